"""A clip: the last seconds of a room's HLS segments as one M4A file, remuxed — the AAC the
worker encoded once is copied, never decoded or encoded again.

The segments are MPEG-TS in order; concatenated they are one transport stream (which is what
an HLS player reads too), demuxed at once. A packet not later than the one before it (a
segment that overlaps its predecessor) is dropped, so the clip's timeline only moves forward.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av


@dataclass(frozen=True)
class ClipFile:
    data: bytes
    seconds: float


class NothingToClip(ValueError):
    """The segments hold no audio."""


def last_seconds(segments: list[bytes], seconds: float) -> ClipFile:
    """An M4A of the last ``seconds`` of ``segments`` (or all of them, if shorter)."""
    if not any(segments):  # the playlist names segments not (yet) in the bucket: no stream to open
        raise NothingToClip("no segments")
    with av.open(io.BytesIO(b"".join(segments)), "r", format="mpegts") as source:
        if not source.streams.audio:
            raise NothingToClip("no audio stream")
        stream = source.streams.audio[0]
        packets: list[tuple[int, av.Packet]] = []  # (dts, packet): pts == dts for AAC
        for packet in source.demux(stream):
            if packet.size and packet.dts is not None and (not packets or packet.dts > packets[-1][0]):
                packets.append((packet.dts, packet))
        if not packets:
            raise NothingToClip("no audio packets")
        time_base = packets[0][1].time_base
        end = packets[-1][0] + (packets[-1][1].duration or 0)
        kept = [(at, p) for at, p in packets if at >= end - int(seconds / time_base)]
        first = kept[0][0]
        out = io.BytesIO()
        # "ipod" is ffmpeg's M4A muxer; the mpegts demuxer's ADTS framing is converted on the
        # way in (ffmpeg inserts aac_adtstoasc). No faststart: it rewrites a file by name.
        with av.open(out, "w", format="ipod") as sink:
            target = sink.add_stream_from_template(stream)
            for at, packet in kept:
                packet.pts = packet.dts = at - first
                packet.stream = target
                sink.mux(packet)
    return ClipFile(out.getvalue(), float((end - first) * time_base))
