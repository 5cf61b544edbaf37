"""The room: participants, their roles and the 20 ms mixing tick."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Protocol

import av
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media_worker.mixer import FRAME_SAMPLES, SILENCE, Broadcast, PacketTrack, Sink, level, to_mono
from media_worker.playout import PlayoutBuffer
from parlor_contract.media import STAGE_ROLES

if TYPE_CHECKING:
    from media_worker.batch import Fanout

log = logging.getLogger("media_worker.room")
SPEAKING_LEVEL = 0.02  # RMS above which someone counts as talking
FRAME_SECONDS = FRAME_SAMPLES / 48_000
# Mixing on arrival (``Room.run``): a speaker is waited for while a frame of theirs came
# this recently; a frame late by more than the grace is mixed without (silence for them);
# and a mix runs at most this much ahead of the clock, so mixes are at least 15 ms apart
# whatever a speaker sends (a burst after a network stall drains a little faster than real
# time; a flood cannot make the room send faster).
ACTIVE_SECONDS = 0.06
ARRIVAL_GRACE_SECONDS = 0.012
ARRIVAL_EARLY_SECONDS = 0.005


@dataclass
class Participant:
    user_id: str
    role: str
    pc: RTCPeerConnection
    out: MediaStreamTrack  # the track negotiated for what they hear
    sink: Sink  # where their mix is delivered (that track, or the fast path)
    muted: bool = False
    frames: PlayoutBuffer = field(default_factory=PlayoutBuffer)
    reader: asyncio.Task[None] | None = None
    mix: Broadcast | None = None  # their own mix-minus-self, when on stage
    heard_at: float = float("-inf")  # when their last frame arrived (loop time)

    @property
    def on_stage(self) -> bool:
        return self.role in STAGE_ROLES


class AudienceTap(Protocol):
    """Takes the listeners' mix every tick (``media_worker.hls``: the audience's HLS stream).
    Called on the tick: it must return at once and never raise."""

    def feed(self, samples: np.ndarray, pts: int) -> None: ...


@dataclass
class Counters:
    frames_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0


class Room:
    def __init__(self, jitter_frames: int = 3,
                 on_speaking: Callable[[list[tuple[str, float]]], Awaitable[None]] | None = None,
                 audience: AudienceTap | None = None, mix_on_arrival: bool = False,
                 new_fanout: Callable[[], Fanout] | None = None):
        self.participants: dict[str, Participant] = {}
        self.stage: dict[str, Participant] = {}  # the on-stage ones: the tick reads only these
        self._new_fanout = new_fanout
        self.listeners = self._broadcast()
        self.counters = Counters()
        self._jitter = jitter_frames
        self._on_speaking = on_speaking
        self._audience = audience
        self._pts = 0
        self._mix_on_arrival = mix_on_arrival
        self._waiting: asyncio.Future[bool] | None = None  # ``run`` waiting: True wakes it to mix now
        self._speaking: frozenset[str] = frozenset()
        self._failed_sinks: list[tuple[Sink, Exception]] = []
        self._closing: set[asyncio.Task[None]] = set()  # connections being closed in the background
        self.empty_since: float | None = time.monotonic()
        self.last_tick = time.monotonic()  # when the mix last ran (health: a stale one is a dead room)

    # -- membership -------------------------------------------------------------------

    async def admit(self, user_id: str, role: str, pc: RTCPeerConnection, out: MediaStreamTrack | None = None,
                    sink: Sink | None = None, muted: bool = False) -> Participant:
        """A new (or renewed) connection for a user: a re-offer replaces the old one. The swap
        happens before the first await, so two re-offers in flight cannot both stay in the
        room: the later one wins. Role and mute are the API's (``standings.Standings``)."""
        previous = self.participants.pop(user_id, None)
        if previous is not None:
            self._detach(previous)
        track = PacketTrack()
        participant = Participant(user_id, role, pc, out or track, sink or track, muted=muted,
                                  frames=PlayoutBuffer(self._jitter))
        self.participants[user_id] = participant
        self._subscribe(participant)
        self.empty_since = None
        if previous is not None:
            await previous.pc.close()
        return participant

    def attach_inbound(self, participant: Participant, track: MediaStreamTrack) -> None:
        """Read a speaker's decoded audio; a listener's track is never read (never forwarded)."""
        if track.kind != "audio" or not participant.on_stage:
            return
        participant.reader = asyncio.ensure_future(self._read(participant, track))

    async def _read(self, participant: Participant, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.hear(participant, to_mono(frame))  # type: ignore[arg-type]
        except (MediaStreamError, asyncio.CancelledError):
            return
        except Exception:  # one speaker's broken stream: they leave (and may re-offer), the room goes on
            log.exception("a speaker's audio could not be read: dropped", extra={"user_id": participant.user_id})
            self.drop(participant)

    def hear(self, participant: Participant, frame: np.ndarray) -> None:
        """A speaker's decoded frame arrived: queued for the next mix, which runs now if it
        was waiting only for this (``mix_on_arrival``)."""
        self.counters.frames_in += 1
        if not participant.on_stage:
            return
        participant.frames.push(frame)
        participant.heard_at = asyncio.get_running_loop().time()
        if self._mix_on_arrival and self.ready_to_mix(participant.heard_at):
            self._wake(True)

    def _wake(self, ready: bool) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(ready)

    def ready_to_mix(self, now: float) -> bool:
        """Every unmuted speaker heard within ``ACTIVE_SECONDS`` has a frame waiting, and there
        is at least one: mixing now loses nobody's voice. With one speaker, that is each of
        their frames as it arrives."""
        waiting = False
        for participant in self.stage.values():
            if participant.muted or now - participant.heard_at > ACTIVE_SECONDS:
                continue
            if not participant.frames:
                return False
            waiting = True
        return waiting

    def _anyone_talking(self, now: float) -> bool:
        return any(not p.muted and now - p.heard_at <= ACTIVE_SECONDS for p in self.stage.values())

    def set_role(self, user_id: str, role: str) -> None:
        participant = self.participants.get(user_id)
        if participant is None:
            return
        participant.role = role
        if not participant.on_stage:
            participant.frames.clear()  # a demoted speaker is silent from this tick on
        self._subscribe(participant)

    def set_muted(self, user_id: str, muted: bool) -> None:
        participant = self.participants.get(user_id)
        if participant is not None:
            participant.muted = muted
            participant.frames.clear()

    async def remove(self, user_id: str) -> bool:
        """The API took them out of the room (left, removed, banned): their connection closes."""
        participant = self.participants.get(user_id)
        if participant is None:
            return False
        self._take_out(participant)
        await participant.pc.close()
        return True

    def drop(self, participant: Participant) -> bool:
        """Take this connection (if it is still the user's current one) out of the room at
        once, without awaiting: its connection is closed in the background."""
        if self.participants.get(participant.user_id) is not participant:
            return False
        self._take_out(participant)
        closing = asyncio.ensure_future(participant.pc.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closed)
        return True

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("closing a dropped connection failed", exc_info=task.exception())

    def _take_out(self, participant: Participant) -> None:
        del self.participants[participant.user_id]
        self._detach(participant)
        if not self.participants:
            self.empty_since = time.monotonic()

    def _detach(self, participant: Participant) -> None:
        """Out of every mix, at once (no await), before its connection is closed."""
        if participant.reader is not None:
            participant.reader.cancel()
        self._unsubscribe(participant)
        participant.out.stop()

    async def close(self) -> None:
        self._wake(False)
        for user_id in list(self.participants):
            await self.remove(user_id)
        if self._closing:
            await asyncio.wait(list(self._closing))

    def _subscribe(self, participant: Participant) -> None:
        self._unsubscribe(participant)
        if participant.on_stage:
            self.stage[participant.user_id] = participant
            participant.mix = participant.mix or self._broadcast()
            participant.mix.add(participant.sink)
        else:
            self.listeners.add(participant.sink)

    def _broadcast(self) -> Broadcast:
        """A mix's subscribers: batched when the room sends in batches (``new_fanout``)."""
        return Broadcast(on_failure=self._sink_failed, fanout=self._new_fanout() if self._new_fanout else None)

    def _unsubscribe(self, participant: Participant) -> None:
        self.listeners.discard(participant.sink)
        if self.stage.get(participant.user_id) is participant:
            del self.stage[participant.user_id]
        if participant.mix is not None:
            participant.mix.discard(participant.sink)

    # -- the tick -----------------------------------------------------------------------

    def tick(self) -> None:
        """Mix one 20 ms frame: everyone hears every unmuted speaker except themselves."""
        self.last_tick = time.monotonic()
        heard: dict[str, np.ndarray] = {}
        for participant in self.stage.values():
            frame = participant.frames.pop()
            if frame is not None and not participant.muted:
                heard[participant.user_id] = frame
        total = sum(heard.values(), SILENCE.copy())
        pts, self._pts = self._pts, self._pts + FRAME_SAMPLES
        if self.listeners:
            self._send(self.listeners, total, pts)
        if self._audience is not None:  # what the room's listeners hear, for the audience beyond it
            self._audience.feed(total, pts)
        for participant in self.stage.values():
            if participant.mix:
                own = heard.get(participant.user_id)
                self._send(participant.mix, total - own if own is not None else total, pts)
        self._notice_speakers(heard)
        if self._failed_sinks:
            self._drop_failed_sinks()

    def _sink_failed(self, sink: Sink, error: Exception) -> None:
        """A sink raised mid-tick (it is already out of that mix): its participant goes after
        the tick, which is iterating over the stage."""
        self._failed_sinks.append((sink, error))

    def _drop_failed_sinks(self) -> None:
        failed, self._failed_sinks = self._failed_sinks, []
        for sink, error in failed:
            participant = next((p for p in self.participants.values() if p.sink is sink), None)
            if participant is not None:
                log.error("a participant's audio could not be sent: dropped", extra={"user_id": participant.user_id},
                          exc_info=error)
                self.drop(participant)

    def _send(self, broadcast: Broadcast, samples: np.ndarray, pts: int) -> None:
        self._forward(broadcast, broadcast.encoder.encode(samples, pts))

    def relay(self, packets: list[av.Packet]) -> None:
        """The listeners' mix, encoded by another process (``media_worker.senders``): to this
        room's listeners at once, as the tick would have sent it."""
        self._forward(self.listeners, packets)
        if self._failed_sinks:
            self._drop_failed_sinks()

    def _forward(self, broadcast: Broadcast, packets: list[av.Packet]) -> None:
        sent = broadcast.publish(packets)
        self.counters.packets_out += sent
        # What reached a listener (a sink that sent nothing, e.g. one still connecting, or
        # the mixing process's hand-over to its senders, counts none).
        self.counters.bytes_out += sum(len(bytes(p)) for p in packets) * sent // max(1, len(packets))

    def _notice_speakers(self, heard: dict[str, np.ndarray]) -> None:
        levels = {uid: level(samples) for uid, samples in heard.items()}
        speaking = frozenset(uid for uid, lv in levels.items() if lv >= SPEAKING_LEVEL)
        if speaking != self._speaking and self._on_speaking is not None:
            self._speaking = speaking
            asyncio.ensure_future(self._on_speaking(sorted((uid, round(levels[uid], 3)) for uid in speaking)))

    async def run(self, stop: asyncio.Event) -> None:
        """Mix every 20 ms on the loop's clock, catching up if a mix ran late. With
        ``mix_on_arrival``, while someone talks a mix runs as soon as every active speaker's
        frame is in (``ready_to_mix``) — with one speaker, as each of their frames arrives —
        instead of waiting for the clock: up to ``ARRIVAL_EARLY_SECONDS`` before it, and up
        to ``ARRIVAL_GRACE_SECONDS`` after it for a late frame before mixing without. The
        clock then counts from that mix. Either way one mix per 20 ms on average: the room
        follows its speakers' pace but never outruns it."""
        loop = asyncio.get_running_loop()
        due = loop.time()  # when the clock wants the next mix
        while not stop.is_set():
            now = loop.time()
            talking = self._mix_on_arrival and self._anyone_talking(now)
            deadline = due + ARRIVAL_GRACE_SECONDS if talking else due
            ready = talking and self.ready_to_mix(now)
            if not ready and deadline > now:
                self._waiting = loop.create_future()
                clock = loop.call_at(deadline, self._wake, False)
                try:
                    ready = await self._waiting
                finally:
                    clock.cancel()
                    self._waiting = None
            if ready and loop.time() < due - ARRIVAL_EARLY_SECONDS:
                await asyncio.sleep(due - ARRIVAL_EARLY_SECONDS - loop.time())
            started = loop.time()  # the clock counts from the start of a mix, however long it takes
            self.tick()
            due = (started if ready else due) + FRAME_SECONDS
            if due < started - 0.2:  # far behind (e.g. suspended): resynchronize instead of bursting
                due = started
