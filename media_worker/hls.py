"""The room's audience stream: the listeners' mix as HLS in the media bucket
(``parlor_contract.hls``), for audiences larger than WebRTC fan-out serves.

One direction of data flow, split where the 20 ms tick must not wait:

- on the tick, ``AacEncoder`` (one AAC-LC encoder for the room's whole life: no re-priming
  per segment) encodes each 20 ms of the mix, and ``Segmenter`` cuts its packets into ~2 s
  segments at AAC-frame boundaries (1024 samples);
- off the tick, ``HlsStream.run`` (one asyncio task) muxes each segment into its own
  MPEG-TS in a thread and PUTs it, then the live playlist, which only ever names segments
  already uploaded. S3 being slow or down never delays the tick: segments wait in a bounded
  queue; one that finds it full, or whose upload finally fails, is skipped, and the next one
  listed carries ``#EXT-X-DISCONTINUITY``.

At the end (``finish``) the last partial segment is flushed and uploaded, the live playlist
gets ``#EXT-X-ENDLIST``, and a recorded space gets its VOD playlist (``replay.m3u8``); a space
that does not record has every object of its stream deleted. All of it within a deadline.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from functools import partial
from typing import Any, Callable

import av
import numpy as np

from parlor_contract.hls import (
    CLOSE_SECONDS,
    LIVE_WINDOW_SEGMENTS,
    PLAYLIST_CACHE_CONTROL,
    PLAYLIST_CONTENT_TYPE,
    SAMPLE_RATE,
    SEGMENT_CACHE_CONTROL,
    SEGMENT_CONTENT_TYPE,
    SEGMENT_SECONDS,
    TARGET_DURATION,
    Retention,
    hls_prefix,
    live_playlist_key,
    replay_playlist_key,
    retention_tagging,
    segment_key,
)

log = logging.getLogger("media_worker.hls")

BIT_RATE = 64_000  # AAC-LC mono: speech and music both clean at 64 kb/s (~16 KB per 2 s segment)
AAC_FRAME_SAMPLES = 1024
SEGMENT_SAMPLES = int(SEGMENT_SECONDS * SAMPLE_RATE)
TIME_BASE = Fraction(1, SAMPLE_RATE)
QUEUE_SEGMENTS = 5  # segments waiting for upload (10 s of audio) before new ones are skipped
PUT_ATTEMPTS = 4  # per object; then the segment is skipped
PUT_TIMEOUT_SECONDS = 5.0  # one attempt; the S3 client's own timeouts are shorter
BACKOFF_SECONDS = 0.25  # before the 2nd attempt, doubling, at most MAX_BACKOFF_SECONDS
MAX_BACKOFF_SECONDS = 2.0
FINISH_TIMEOUT_SECONDS = CLOSE_SECONDS  # the whole end: last segment, playlists or deletion
UPLOAD_THREADS = 2  # its own threads: a hung S3 call never takes the heartbeat's executor


def s3_client() -> Any:
    """The worker's S3 client (endpoint from ``AWS_ENDPOINT_URL`` locally), with timeouts short
    enough that a call to an unreachable S3 returns within one attempt's budget."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(connect_timeout=2, read_timeout=4, retries={"max_attempts": 1}))


@dataclass(frozen=True)
class AacPacket:
    data: bytes
    pts: int  # on the stream's timeline: 48 kHz samples, never negative
    duration: int


@dataclass(frozen=True)
class Segment:
    number: int  # its place among the segments cut: a gap in the numbering is a skipped segment
    packets: tuple[AacPacket, ...]
    started_at: datetime  # wall clock of its first sample

    @property
    def start(self) -> int:
        return self.packets[0].pts

    @property
    def duration(self) -> int:
        return self.packets[-1].pts + self.packets[-1].duration - self.start


class AacEncoder:
    """One AAC-LC encoder for the room's whole stream, fed 20 ms frames of the int32 mix.

    Its packets are shifted by the encoder's priming (the first packet's pts is -1024): a
    segment starting at a negative pts would be moved by the MPEG-TS muxer, which breaks the
    continuity between segments."""

    def __init__(self, bit_rate: int = BIT_RATE):
        codec = av.CodecContext.create("aac", "w")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "fltp"
        codec.bit_rate = bit_rate
        codec.time_base = TIME_BASE
        codec.open()
        self._codec = codec
        self.extradata = bytes(codec.extradata or b"")
        self.delay: int | None = None  # samples the stream's timeline runs ahead of the mix's pts (the priming)

    def encode(self, samples: np.ndarray, pts: int) -> list[AacPacket]:
        mono = (np.clip(samples, -32768, 32767).astype(np.float32) / 32768.0).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(mono, format="fltp", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = pts
        frame.time_base = TIME_BASE
        return self._packets(self._codec.encode(frame))

    def flush(self) -> list[AacPacket]:
        return self._packets(self._codec.encode(None))

    def _packets(self, packets: list[av.Packet]) -> list[AacPacket]:
        out = []
        for packet in packets:
            if packet.pts is None:
                continue
            if self.delay is None:
                self.delay = max(0, -packet.pts)
            out.append(AacPacket(bytes(packet), packet.pts + self.delay, packet.duration or AAC_FRAME_SAMPLES))
        return out


class Segmenter:
    """Cuts the packets into segments at the first AAC-frame boundary at or past the target length."""

    def __init__(self, length: int = SEGMENT_SAMPLES):
        self._length = length
        self._packets: list[AacPacket] = []
        self._started_at: datetime | None = None
        self._count = 0

    def add(self, packet: AacPacket, at: datetime) -> Segment | None:
        """Add a packet (``at``: the wall clock of its first sample); the segment it completes, if any."""
        if not self._packets:
            self._started_at = at
        self._packets.append(packet)
        if packet.pts + packet.duration - self._packets[0].pts >= self._length:
            return self.flush()
        return None

    def flush(self) -> Segment | None:
        """The partial segment being cut, if any (at the end)."""
        if not self._packets:
            return None
        assert self._started_at is not None
        segment = Segment(self._count, tuple(self._packets), self._started_at)
        self._count += 1
        self._packets = []
        return segment


# The MPEG-TS muxer's delay (ffmpeg's own default, ``-muxdelay 0.7``): it then packs up to
# 0.35 s of AAC frames per PES instead of one frame each, which halves a segment's size (~20 KB
# instead of ~38 KB at 64 kb/s). It shifts every segment's timestamps by the same 1.4 s, so
# the segments stay continuous.
MUX_OPTIONS = {"max_delay": "700000"}


def mux(segment: Segment, extradata: bytes) -> bytes:
    """The segment as a standalone MPEG-TS, its timestamps those of the stream's timeline
    (shifted by the muxer's constant delay)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts", options=MUX_OPTIONS) as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        stream.codec_context.extradata = extradata
        stream.time_base = TIME_BASE
        for aac in segment.packets:
            packet = av.Packet(aac.data)
            packet.pts = packet.dts = aac.pts
            packet.duration = aac.duration
            packet.time_base = TIME_BASE
            packet.stream = stream
            container.mux(packet)
    return buffer.getvalue()


@dataclass(frozen=True)
class Listed:
    """A segment the playlists name: uploaded."""

    media_sequence: int
    uri: str  # relative to the playlist
    seconds: float
    started_at: datetime
    discontinuity: bool


def playlist(entries: list[Listed], first: int = 0, ended: bool = False, vod: bool = False) -> str:
    """An HLS media playlist naming ``entries[first:]``."""
    window = entries[first:]
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{TARGET_DURATION}",
             f"#EXT-X-MEDIA-SEQUENCE:{window[0].media_sequence if window else 0}"]
    gone_discontinuities = sum(1 for entry in entries[:first] if entry.discontinuity)
    if gone_discontinuities:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{gone_discontinuities}")
    if vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    for entry in window:
        if entry.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        stamp = entry.started_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{stamp}", f"#EXTINF:{entry.seconds:.5f},", entry.uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclass
class HlsCounters:
    segments_cut: int = 0
    segments_uploaded: int = 0
    segments_failed: int = 0  # every attempt failed: skipped
    segments_skipped: int = 0  # the queue was full: never tried
    upload_retries: int = 0
    puts: int = 0  # successful PUTs, segments and playlists: S3 requests per room-hour (make bench)
    playlist_failures: int = 0
    cpu_seconds: float = 0.0  # encoding (on the tick) and muxing (in a thread)


@dataclass
class _Pending:
    queue: asyncio.Queue[Segment | None] = field(default_factory=asyncio.Queue)
    segments: int = 0  # the queue's segments (it also takes the end marker, always)


class HlsStream:
    """The room's audience tap (``Room(audience=...)``): ``feed`` on each tick, ``run`` as a
    background task, ``finish`` at the end."""

    def __init__(self, space_id: str, bucket: str, s3: Any, recording: bool = True, *,
                 queue_segments: int = QUEUE_SEGMENTS, put_attempts: int = PUT_ATTEMPTS,
                 put_timeout: float = PUT_TIMEOUT_SECONDS, backoff: float = BACKOFF_SECONDS,
                 max_backoff: float = MAX_BACKOFF_SECONDS, wall_clock: Callable[[], float] = time.time):
        self.space_id = space_id
        self.bucket = bucket
        self.recording = recording
        self.counters = HlsCounters()
        self.listed: list[Listed] = []  # every segment uploaded, in order
        self._s3 = s3
        self._tagging = retention_tagging(Retention.RECORDING if recording else Retention.LIVE)
        self._encoder = AacEncoder()
        self._segmenter = Segmenter()
        self._pending = _Pending()
        self._queue_segments = queue_segments
        self._attempts = put_attempts
        self._put_timeout = put_timeout
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._wall_clock = wall_clock
        self._executor = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="hls-upload")
        self._written: set[str] = set()  # every key a PUT was tried for (a timed-out one may have landed)
        self._first_key = 0  # keys of a previous worker of this space are never overwritten
        self._previous_number: int | None = None  # the last listed segment's ``number``
        self._resumed: bool | None = None
        self._drained = asyncio.Event()
        self._last_fed = (wall_clock(), 0)  # (wall clock, pts) of the last frame fed
        self._closed = False
        self._broken = False

    # -- on the tick ------------------------------------------------------------------

    def feed(self, samples: np.ndarray, pts: int) -> None:
        """20 ms of the listeners' mix (int32 mono, ``pts`` in samples). Never raises, never
        waits: an encoder failure stops the stream (logged once), not the room."""
        if self._closed or self._broken:
            return
        started = time.thread_time()
        try:
            self._last_fed = (self._wall_clock(), pts)
            self._cut(self._encoder.encode(samples, pts))
        except Exception:
            self._broken = True
            log.exception("the HLS stream could not encode the mix: stopped")
        finally:
            self.counters.cpu_seconds += time.thread_time() - started

    def _cut(self, packets: list[AacPacket]) -> None:
        fed_at, fed_pts = self._last_fed
        for packet in packets:
            # Its first sample entered the mix (its pts - the priming) samples after the last frame fed's first.
            at = fed_at + (packet.pts - (self._encoder.delay or 0) - fed_pts) / SAMPLE_RATE
            segment = self._segmenter.add(packet, datetime.fromtimestamp(at, UTC))
            if segment is not None:
                self._enqueue(segment)

    def _enqueue(self, segment: Segment, last: bool = False) -> None:
        """Queue a segment for upload, unless the queue is full (S3 is behind): then it is
        skipped. The last one always goes (``finish`` bounds the wait for it)."""
        self.counters.segments_cut += 1
        if self._pending.segments >= self._queue_segments and not last:
            self.counters.segments_skipped += 1
            log.warning("HLS upload queue full: segment skipped", extra={"segment": segment.number})
            return
        self._pending.segments += 1
        self._pending.queue.put_nowait(segment)

    # -- off the tick -------------------------------------------------------------------

    async def run(self) -> None:
        """Upload each segment as it is cut, then the live playlist; returns after ``finish``
        queued the end."""
        if self._resumed is None:
            await self._resume()
        while True:
            segment = await self._pending.queue.get()
            if segment is None:
                self._drained.set()
                return
            self._pending.segments -= 1
            await self._publish(segment)

    async def _resume(self) -> None:
        """A worker replacing a crashed one of the same space continues after its segments
        (never overwriting one a player may hold), after a discontinuity."""
        try:
            keys = await self._call(partial(self._existing_keys))
        except Exception as exc:  # noqa: BLE001 - S3 down: its segments are not found either
            log.warning("could not list the space's earlier HLS segments", extra={"error": str(exc)})
            keys = []
        numbers = [int(k.rsplit("/", 1)[1][:-3]) for k in keys if k.endswith(".ts") and k.rsplit("/", 1)[1][:-3].isdigit()]
        self._resumed = bool(numbers)
        self._first_key = max(numbers) + 1 if numbers else 0

    def _existing_keys(self) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=hls_prefix(self.space_id)):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    async def _publish(self, segment: Segment) -> None:
        try:
            data, mux_cpu = await asyncio.get_running_loop().run_in_executor(self._executor, _timed, mux, segment,
                                                                              self._encoder.extradata)
        except Exception:  # noqa: BLE001 - one segment lost, not the stream
            self.counters.segments_failed += 1
            log.exception("HLS segment could not be muxed: skipped", extra={"segment": segment.number})
            return
        self.counters.cpu_seconds += mux_cpu
        number = self._first_key + segment.number
        key = segment_key(self.space_id, number)
        if not await self._put(key, data, SEGMENT_CONTENT_TYPE, SEGMENT_CACHE_CONTROL):
            self.counters.segments_failed += 1
            log.error("HLS segment could not be uploaded: skipped", extra={"key": key})
            return
        self.counters.segments_uploaded += 1
        gap = self._resumed if self._previous_number is None else segment.number != self._previous_number + 1
        self._previous_number = segment.number
        media_sequence = self.listed[-1].media_sequence + 1 if self.listed else self._first_key
        self.listed.append(Listed(media_sequence, key.rsplit("/", 1)[1], segment.duration / SAMPLE_RATE,
                                  segment.started_at, bool(gap)))
        await self._put_playlist(live_playlist_key(self.space_id), self.live_playlist())

    def live_playlist(self, ended: bool = False) -> str:
        return playlist(self.listed, max(0, len(self.listed) - LIVE_WINDOW_SEGMENTS), ended=ended)

    def replay_playlist(self) -> str:
        return playlist(self.listed, ended=True, vod=True)

    async def _put_playlist(self, key: str, text: str) -> bool:
        if await self._put(key, text.encode(), PLAYLIST_CONTENT_TYPE, PLAYLIST_CACHE_CONTROL):
            return True
        self.counters.playlist_failures += 1  # the next segment's playlist names this one's segments too
        log.warning("HLS playlist could not be uploaded", extra={"key": key})
        return False

    async def _put(self, key: str, body: bytes, content_type: str, cache_control: str) -> bool:
        """PUT with bounded retries and backoff; False once every attempt failed."""
        self._written.add(key)
        for attempt in range(self._attempts):
            if attempt:
                self.counters.upload_retries += 1
                await asyncio.sleep(min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))
            try:
                await self._call(partial(self._s3.put_object, Bucket=self.bucket, Key=key, Body=body,
                                         ContentType=content_type, CacheControl=cache_control, Tagging=self._tagging))
                self.counters.puts += 1
                return True
            except Exception as exc:  # noqa: BLE001 - any failure of S3 or the network is retried
                log.info("HLS upload attempt failed", extra={"key": key, "attempt": attempt + 1, "error": repr(exc)})
        return False

    async def _call(self, call: Callable[[], Any]) -> Any:
        """An S3 call in the stream's own threads, given up after the attempt's timeout (its
        thread may go on: the client's own timeouts end it)."""
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._executor, call), timeout=self._put_timeout)

    # -- the end ------------------------------------------------------------------------

    async def finish(self, timeout: float = FINISH_TIMEOUT_SECONDS) -> None:
        """Flush the last partial segment and upload it, end the live playlist, then write the
        replay playlist (recorded) or delete everything written (not recorded). Gives up after
        ``timeout`` (logged): a stuck S3 does not hold the worker's exit."""
        if self._closed:
            return
        try:
            if not self._broken:
                self._cut(self._encoder.flush())
        except Exception:  # noqa: BLE001 - whatever was cut is still uploaded
            log.exception("the HLS encoder could not be flushed")
        self._closed = True
        last = self._segmenter.flush()
        if last is not None:
            self._enqueue(last, last=True)
        self._pending.queue.put_nowait(None)
        try:
            await asyncio.wait_for(self._end(), timeout)
        except TimeoutError:
            log.error("the HLS stream was not finished in time", extra={"timeout_seconds": timeout,
                                                                        "listed": len(self.listed)})
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _end(self) -> None:
        await self._drained.wait()
        await self._put_playlist(live_playlist_key(self.space_id), self.live_playlist(ended=True))
        if self.recording:
            await self._put_playlist(replay_playlist_key(self.space_id), self.replay_playlist())
        else:
            await self._delete_everything()

    async def _delete_everything(self) -> None:
        """Nothing of a space that does not record stays after its end: what this worker wrote,
        and what an earlier worker of the space left."""
        try:
            keys = set(await self._call(self._existing_keys)) | self._written
        except Exception as exc:  # noqa: BLE001 - still delete what this worker knows it wrote
            log.warning("could not list the space's HLS objects", extra={"error": str(exc)})
            keys = set(self._written)
        ordered = sorted(keys)
        for start in range(0, len(ordered), 1000):
            batch = [{"Key": k} for k in ordered[start:start + 1000]]
            try:
                await self._call(partial(self._s3.delete_objects, Bucket=self.bucket,
                                         Delete={"Objects": batch, "Quiet": True}))
            except Exception as exc:  # noqa: BLE001 - the bucket's 1-day lifecycle rule removes them anyway
                log.error("HLS objects not deleted", extra={"error": repr(exc), "count": len(batch)})

    def metrics(self) -> dict[str, Any]:
        return {**asdict(self.counters), "cpu_seconds": round(self.counters.cpu_seconds, 3),
                "queued": self._pending.segments, "listed": len(self.listed), "recording": self.recording}


def _timed(work: Callable[..., bytes], *args: Any) -> tuple[bytes, float]:
    """``work(*args)`` and the CPU time its thread spent on it."""
    started = time.thread_time()
    result = work(*args)
    return result, time.thread_time() - started
