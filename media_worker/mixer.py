"""Mixing and encode-once fan-out.

Each speaker is decoded once (by aiortc's receiver); every 20 ms the room sums the speakers'
frames with numpy, encodes the listeners' mix once and each speaker's mix-minus-self once,
and hands the *same* encoded ``av.Packet`` objects to every subscriber's sender, which only
packetizes, encrypts and sends them. No per-listener decode or encode.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Callable, Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
TIME_BASE = Fraction(1, SAMPLE_RATE)
SILENCE = np.zeros(FRAME_SAMPLES, dtype=np.int32)


def to_mono(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as FRAME_SAMPLES mono int32 samples (padded or cut to 20 ms)."""
    samples = frame.to_ndarray().reshape(-1)
    channels = len(frame.layout.channels)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    mono = samples.astype(np.int32)
    if mono.shape[0] != FRAME_SAMPLES:
        mono = np.resize(mono, FRAME_SAMPLES) if mono.shape[0] else SILENCE.copy()
    return mono


def level(samples: np.ndarray) -> float:
    """RMS level, 0..1."""
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) / 32768.0


class MixEncoder:
    """One Opus encoder for one distinct mix; packets carry pts on a shared 48 kHz timeline."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("libopus", "w")
        self._codec.sample_rate = SAMPLE_RATE
        self._codec.format = "s16"
        self._codec.layout = "mono"
        self._codec.bit_rate = 32_000
        self._codec.options = {"application": "voip"}
        self._codec.time_base = TIME_BASE

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        frame = av.AudioFrame.from_ndarray(np.clip(samples, -32768, 32767).astype(np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = pts
        frame.time_base = TIME_BASE
        packets = self._codec.encode(frame)
        for packet in packets:
            packet.pts = pts
            packet.time_base = TIME_BASE
        return packets


class PacketTrack(MediaStreamTrack):
    """The one audio track a participant receives: already-encoded packets of its mix."""

    kind = "audio"

    def __init__(self, backlog: int = 5) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet] = asyncio.Queue(maxsize=backlog)

    def deliver(self, packet: av.Packet, data: bytes) -> bool:
        if self._queue.full():  # a slow peer drops old audio instead of adding delay
            self._queue.get_nowait()
        self._queue.put_nowait(packet)
        return True

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        return await self._queue.get()


class Sink(Protocol):
    """Where one participant's mix goes: an aiortc track (the sender packetizes) or the fast path."""

    def deliver(self, packet: av.Packet, data: bytes) -> bool: ...


class Broadcast:
    """The subscribers of one mix; the same packet goes to each.

    A sink that raises is one participant's failure (a closed socket, a dead connection):
    it is taken out of this mix at once and handed to ``on_failure``; the others still get
    the packet. (The ``try`` costs nothing until something raises, Python 3.11+.)"""

    def __init__(self, on_failure: Callable[[Sink, Exception], None] | None = None) -> None:
        self.encoder = MixEncoder()
        self.tracks: set[Sink] = set()
        self._on_failure = on_failure

    def publish(self, packets: list[av.Packet]) -> int:
        sent = 0
        for packet in packets:
            data = bytes(packet)  # once per packet, not per listener
            failed: list[tuple[Sink, Exception]] = []
            for track in self.tracks:
                try:
                    sent += track.deliver(packet, data)
                except Exception as exc:  # noqa: BLE001 - whatever it was, it is this sink's alone
                    failed.append((track, exc))
            for track, error in failed:  # not while iterating over the set
                self.tracks.discard(track)
                if self._on_failure is not None:
                    self._on_failure(track, error)
        return sent
