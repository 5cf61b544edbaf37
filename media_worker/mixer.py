"""Mixing and encode-once fan-out.

Each speaker is decoded once (by aiortc's receiver); every 20 ms the room sums the speakers'
frames with numpy, encodes the listeners' mix once and each speaker's mix-minus-self once,
and hands the *same* encoded ``av.Packet`` objects to every subscriber's sender, which only
packetizes, encrypts and sends them. No per-listener decode or encode.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

if TYPE_CHECKING:
    from media_worker.batch import Fanout

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


class BatchSink(Sink, Protocol):
    """A participant whose packets go out in its broadcast's batch (``media_worker.batch``):
    nothing of it runs per packet. It takes a slot in the batch once its connection is up,
    and is asked again now and then whether its route still holds."""

    def join(self, fanout: Fanout) -> bool:
        """Take a slot in ``fanout`` if the connection is up; False: not yet."""
        ...

    def still_joined(self) -> bool:
        """Keep the slot up to date with the connection's route; False: it lost its slot."""
        ...

    def leave(self) -> None:
        """Give the slot back (if it has one)."""
        ...


class Broadcast:
    """The subscribers of one mix; the same packet goes to each.

    Subscribers are per-packet sinks (an aiortc track, the fast path: a Python call each) or,
    when the broadcast has a ``fanout``, batch sinks: one compiled call per packet reaches
    all of them. Batch sinks wait (``_waiting``) until their connection is up; each tick a
    fiftieth of the joined ones is asked whether its route still holds, so a route is
    checked about once a second whatever the room's size.

    A sink that raises is one participant's failure (a closed socket, a dead connection):
    it is taken out of this mix at once and handed to ``on_failure``; the others still get
    the packet. (The ``try`` costs nothing until something raises, Python 3.11+.)"""

    RECHECK_TICKS = 50

    def __init__(self, on_failure: Callable[[Sink, Exception], None] | None = None,
                 fanout: Fanout | None = None) -> None:
        self.encoder = MixEncoder()
        self.tracks: set[Sink] = set()  # the per-packet sinks
        self.fanout = fanout
        self._waiting: set[BatchSink] = set()
        self._joined: list[BatchSink] = []
        self._recheck_at = 0
        self._on_failure = on_failure

    def add(self, sink: Sink) -> None:
        if self.fanout is not None and hasattr(sink, "join"):
            if sink not in self._joined:
                self._waiting.add(sink)  # type: ignore[arg-type]
        else:
            self.tracks.add(sink)

    def discard(self, sink: Sink) -> None:
        self.tracks.discard(sink)
        self._waiting.discard(sink)  # type: ignore[arg-type]
        if sink in self._joined:
            self._joined.remove(sink)  # type: ignore[arg-type]
            sink.leave()  # type: ignore[attr-defined]

    def __contains__(self, sink: object) -> bool:
        return sink in self.tracks or sink in self._waiting or sink in self._joined

    def __len__(self) -> int:
        return len(self.tracks) + len(self._waiting) + len(self._joined)

    @property
    def receivers(self) -> int:
        """Subscribers a packet reaches now (per-packet sinks and batch sinks with a slot)."""
        return len(self.tracks) + len(self._joined)

    def publish(self, packets: list[av.Packet]) -> int:
        if self._waiting or self._joined:
            self._tend_batch()
        sent = 0
        for packet in packets:
            data = bytes(packet)  # once per packet, not per listener
            if self._joined:
                sent += self.fanout.send(data, int(packet.pts))  # type: ignore[union-attr, arg-type]
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

    def _tend_batch(self) -> None:
        """Slots for the sinks whose connection came up; a fiftieth of the others rechecked."""
        assert self.fanout is not None
        for sink in [s for s in self._waiting if s.join(self.fanout)]:
            self._waiting.discard(sink)
            self._joined.append(sink)
        count = len(self._joined)
        for _ in range(-(-count // self.RECHECK_TICKS)):
            self._recheck_at %= len(self._joined)
            sink = self._joined[self._recheck_at]
            if sink.still_joined():
                self._recheck_at += 1
            else:  # its connection is down (for now): it waits for a route again
                self._joined.pop(self._recheck_at)
                self._waiting.add(sink)
            if not self._joined:
                break
