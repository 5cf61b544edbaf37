"""An HLS client for tests and benchmarks, playing a signed stream as a player does: it reads
the media playlist (``m3u8``), fetches each new segment over HTTP from the CDN with the
signature's query appended (as hls.js's ``xhrSetup`` does), demuxes and decodes it with PyAV.

It keeps what a test asks about: every segment's media sequence number, its first and last
timestamps (continuity), its wall-clock start (``EXT-X-PROGRAM-DATE-TIME``), when it was
decoded here, and its samples.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin

import av
import m3u8
import numpy as np
import requests

RATE = 48_000
TS_CLOCK = 90_000  # MPEG-TS timestamps


class Refused(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"{status}: {body[:200]}")
        self.status = status


@dataclass
class Segment:
    sequence: int
    uri: str
    duration: float  # EXTINF
    program_date_time: datetime | None
    first_pts: int  # 90 kHz, the first packet's
    end_pts: int  # 90 kHz, after the last packet
    samples: np.ndarray  # decoded, mono float32
    decoded_at: float  # time.time() when it was decoded here
    discontinuity: bool = False
    size: int = 0  # bytes fetched


def decode_ts(data: bytes) -> tuple[int, int, np.ndarray]:
    """(first pts, end pts, mono samples) of one MPEG-TS segment of audio."""
    with av.open(io.BytesIO(data), "r", format="mpegts") as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
        assert packets, "a segment without audio"
        to_ts = float(stream.time_base * TS_CLOCK)
        first = round(packets[0].pts * to_ts)
        end = round((packets[-1].pts + (packets[-1].duration or 0)) * to_ts)
        frames: list[np.ndarray] = []
        for packet in packets:
            for frame in stream.codec_context.decode(packet):
                frames.append(_mono(frame))
    return first, end, np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32)


def decode_file(data: bytes) -> tuple[float, np.ndarray]:
    """(duration in seconds, mono samples) of a whole audio file (e.g. an M4A clip)."""
    with av.open(io.BytesIO(data), "r") as container:
        samples = np.concatenate([_mono(frame) for frame in container.decode(audio=0)])
        return len(samples) / RATE, samples


def _mono(frame: av.AudioFrame) -> np.ndarray:
    samples = frame.to_ndarray().astype(np.float32)
    return samples.mean(axis=0) if samples.ndim == 2 and samples.shape[0] > 1 else samples.reshape(-1)


@dataclass
class HlsClient:
    url: str  # the playlist's signed URL
    query: str  # the signature, appended to each segment URL
    session: requests.Session = field(default_factory=requests.Session)
    segments: list[Segment] = field(default_factory=list)
    ended: bool = False
    playlist_bytes: int = 0  # the last playlist's size

    def get(self, url: str) -> bytes:
        reply = self.session.get(url, timeout=10)
        if reply.status_code != 200:
            raise Refused(reply.status_code, reply.text)
        return reply.content

    def playlist(self) -> m3u8.M3U8:
        text = self.get(self.url)
        self.playlist_bytes = len(text)
        return m3u8.loads(text.decode())

    def segment_url(self, uri: str) -> str:
        return urljoin(self.url.split("?", 1)[0], uri) + "?" + self.query

    def poll(self, from_live_edge: int | None = None) -> list[Segment]:
        """Fetch the segments the playlist names that this client has not fetched yet; on the
        first poll only the last ``from_live_edge`` (all if None). Returns the new ones."""
        playlist = self.playlist()
        self.ended = bool(playlist.is_endlist)
        named = list(enumerate(playlist.segments, start=int(playlist.media_sequence or 0)))
        if not self.segments and from_live_edge is not None:
            named = named[-from_live_edge:]
        last = self.segments[-1].sequence if self.segments else -1
        new = []
        for sequence, entry in named:
            if sequence <= last:
                continue
            data = self.get(self.segment_url(entry.uri))
            first, end, samples = decode_ts(data)
            segment = Segment(sequence, entry.uri, float(entry.duration), entry.current_program_date_time,
                              first, end, samples, time.time(), bool(entry.discontinuity), len(data))
            self.segments.append(segment)
            new.append(segment)
        return new

    def follow(self, seconds: float, every: float = 0.5, from_live_edge: int | None = 1) -> None:
        """Poll for ``seconds`` (or until the playlist ends)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.ended:
            self.poll(from_live_edge)
            time.sleep(every)

    def audio(self, last_seconds: float | None = None) -> np.ndarray:
        samples = np.concatenate([s.samples for s in self.segments]) if self.segments else np.zeros(0, np.float32)
        return samples[-int(last_seconds * RATE):] if last_seconds else samples

    def gaps(self) -> list[str]:
        """Where consecutive segments are not continuous: a skipped or repeated sequence number,
        or a timestamp jump (gap or overlap) between one's end and the next one's start."""
        problems = []
        for before, after in zip(self.segments, self.segments[1:], strict=False):
            if after.sequence != before.sequence + 1:
                problems.append(f"sequence {before.sequence} -> {after.sequence}")
            elif abs(after.first_pts - before.end_pts) > 2:  # 90 kHz ticks: rounding only
                problems.append(f"segment {after.sequence} starts at {after.first_pts}, {before.sequence} ended at {before.end_pts}")
        return problems
