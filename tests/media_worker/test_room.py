"""The room's bookkeeping: who is on stage (mixed each tick) and who gets the listeners' mix,
through role changes, removal and re-offers that overlap."""

from __future__ import annotations

import asyncio
import selectors

import av
import numpy as np
from aiortc import RTCPeerConnection

from media_worker.mixer import FRAME_SAMPLES
from media_worker.room import ACTIVE_SECONDS, ARRIVAL_EARLY_SECONDS, FRAME_SECONDS, Room


class SlowToClose(RTCPeerConnection):
    """A connection whose close takes a moment (DTLS close_notify, ICE teardown) and yields."""

    async def close(self) -> None:
        await asyncio.sleep(0.01)
        await super().close()


def run(coro):
    return asyncio.run(coro)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when it would otherwise wait: to its next timer,
    at once. The room's clock rules are then checked exactly, however busy the machine."""

    def __init__(self) -> None:
        self._now = 0.0
        loop = self

        class Selector(selectors.DefaultSelector):
            def select(self, timeout: float | None = None):  # type: ignore[no-untyped-def]
                events = super().select(0)
                if not events and timeout:
                    loop._now += timeout
                return events

        super().__init__(selector=Selector())

    def time(self) -> float:
        return self._now

    def spend(self, seconds: float) -> None:
        """Time a callback takes (a mix to thousands of listeners), on this clock."""
        self._now += seconds


def run_on_virtual_time(coro):
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)


def test_promotion_demotion_and_removal_move_a_participant_between_stage_and_audience():
    async def scenario():
        room = Room()
        speaker = await room.admit("u", "speaker", RTCPeerConnection())
        assert room.stage == {"u": speaker} and speaker.sink not in room.listeners
        room.set_role("u", "listener")
        assert room.stage == {} and speaker.sink in room.listeners
        room.set_role("u", "cohost")
        assert room.stage == {"u": speaker} and speaker.sink not in room.listeners
        assert await room.remove("u")
        assert room.participants == {} and room.stage == {} and not room.listeners
        assert room.empty_since is not None

    run(scenario())


def test_overlapping_reoffers_leave_only_the_latest_connection_in_the_room():
    async def scenario():
        room = Room()
        first, second, third = SlowToClose(), SlowToClose(), SlowToClose()
        await room.admit("u", "speaker", first)
        # A re-offer as listener is closing the first connection when one as speaker arrives.
        await asyncio.gather(room.admit("u", "listener", second), room.admit("u", "speaker", third))
        latest = room.participants["u"]
        assert latest.pc is third and room.stage == {"u": latest}
        assert not room.listeners  # the overlapped listener connection is gone too
        assert first.connectionState == second.connectionState == "closed"
        await room.remove("u")
        assert room.participants == {} and room.stage == {} and not room.listeners

    run(scenario())


class Recorder:
    """A listener's sink that keeps the encoded packets it is handed."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def deliver(self, packet: av.Packet, data: bytes) -> bool:
        self.packets.append(data)
        return True


def decoded_level(packets: list[bytes]) -> float:
    """RMS (0..1) of what these Opus packets decode to."""
    decoder = av.CodecContext.create("opus", "r")
    decoder.sample_rate, decoder.layout = 48_000, "mono"
    samples = [frame.to_ndarray().reshape(-1) for data in packets for frame in decoder.decode(av.Packet(data))]
    audio = np.concatenate(samples).astype(np.float64)
    return float(np.sqrt(np.mean(np.square(audio)))) / (32768 if audio.dtype.kind == "i" else 1)


def tone_frame(n: int) -> np.ndarray:
    t = (np.arange(FRAME_SAMPLES) + n * FRAME_SAMPLES) / 48_000
    return (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int32)


def test_a_muted_or_demoted_speaker_is_out_of_the_very_next_mix():
    """The control call takes effect at the next 20 ms tick, well inside the 100 ms the
    contract allows; counted in ticks, not timed."""

    async def scenario():
        for silence_them in ("mute", "demote"):
            room = Room()
            bob = await room.admit("bob", "speaker", RTCPeerConnection())
            dan_hears = Recorder()
            await room.admit("dan", "listener", RTCPeerConnection(), sink=dan_hears)
            for n in range(10):  # half a second of tone, with more queued behind it
                bob.frames.push(tone_frame(n))
                room.tick()
            assert decoded_level(dan_hears.packets[-5:]) > 0.05  # a 0.3 tone; silence is < 0.002
            bob.frames.push(tone_frame(10))
            if silence_them == "mute":
                room.set_muted("bob", True)
            else:
                room.set_role("bob", "listener")
            heard_before = len(dan_hears.packets)
            for n in range(11, 16):
                bob.frames.push(tone_frame(n))  # he keeps talking
                room.tick()
            after = dan_hears.packets[heard_before:]
            # The first packet may carry the Opus encoder's few ms of lookahead; from the
            # second tick on, nothing of him.
            assert len(after) == 5 and decoded_level(after[1:]) < 0.002, silence_them
            await room.close()

    run(scenario())


class Broken:
    """A sink whose socket was closed under it, as aioice's consent expiry does."""

    def deliver(self, packet: av.Packet, data: bytes) -> bool:
        raise AttributeError("'NoneType' object has no attribute 'sendto'")


def test_a_sink_that_raises_is_dropped_alone_and_the_tick_goes_on():
    async def scenario():
        room = Room()
        bob = await room.admit("bob", "speaker", RTCPeerConnection(), sink=Recorder())
        await room.admit("carl", "speaker", RTCPeerConnection(), sink=Broken())  # his mix-minus-self fails
        dan_hears = Recorder()
        await room.admit("dan", "listener", RTCPeerConnection(), sink=dan_hears)
        await room.admit("eve", "listener", RTCPeerConnection(), sink=Broken())
        for n in range(10):
            bob.frames.push(tone_frame(n))
            room.tick()
        assert set(room.participants) == {"bob", "dan"} and set(room.stage) == {"bob"}
        assert len(dan_hears.packets) == 10 and decoded_level(dan_hears.packets[-5:]) > 0.05
        assert dan_hears in room.listeners and len(room.listeners) == 1
        await room.close()

    run(scenario())


class Mixes:
    """Notes each mix of a running room (loop time) and wakes a waiting test after one."""

    def __init__(self, room: Room) -> None:
        self.at: list[float] = []
        self._room = room
        self.happened = asyncio.Event()
        tick = room.tick

        def noted() -> None:
            tick()
            self.at.append(asyncio.get_running_loop().time())
            self.happened.set()

        room.tick = noted  # type: ignore[method-assign]

    async def next(self) -> None:
        self.happened.clear()
        await self.happened.wait()

    async def spaced(self) -> None:
        """Within the few ms before the clock's next mix in which an arriving frame is mixed at
        once (``ARRIVAL_EARLY_SECONDS``): 16–19 ms after a mix (tried again if the loop overslept)."""
        loop = asyncio.get_running_loop()
        while True:
            await self.next()
            mixed = len(self.at)
            await asyncio.sleep(FRAME_SECONDS - ARRIVAL_EARLY_SECONDS + 0.001)
            # No mix meanwhile (a late one is followed by an early one), and not overslept.
            if len(self.at) == mixed and loop.time() - self.at[-1] < FRAME_SECONDS - 0.001:
                return


async def settle() -> None:
    """A few turns of the loop: what runs on arrival has run, the 20 ms clock has not come."""
    for _ in range(5):
        await asyncio.sleep(0)


async def running_room(mix_on_arrival: bool, speakers: int) -> tuple[Room, list, Recorder, Mixes, asyncio.Task, asyncio.Event]:
    room = Room(mix_on_arrival=mix_on_arrival)
    stage = [await room.admit(f"s{i}", "speaker", RTCPeerConnection(), sink=Recorder()) for i in range(speakers)]
    dan_hears = Recorder()
    await room.admit("dan", "listener", RTCPeerConnection(), sink=dan_hears)
    mixes, stop = Mixes(room), asyncio.Event()
    task = asyncio.ensure_future(room.run(stop))
    await mixes.next()
    return room, stage, dan_hears, mixes, task, stop


async def stopped(room: Room, task: asyncio.Task, stop: asyncio.Event) -> None:
    stop.set()
    await task
    await room.close()


def test_one_speakers_frame_is_mixed_as_it_arrives_not_at_the_next_tick():
    async def scenario():
        for on_arrival in (True, False):
            room, (bob,), dan_hears, mixes, task, stop = await running_room(on_arrival, speakers=1)
            for n in range(5):
                await mixes.spaced()
                heard = len(dan_hears.packets)
                room.hear(bob, tone_frame(n))
                await settle()
                if on_arrival:
                    assert len(dan_hears.packets) == heard + 1 and not bob.frames, n
                else:  # the clock's mix takes it
                    assert len(dan_hears.packets) == heard and len(bob.frames) == 1, n
            await stopped(room, task, stop)
        assert decoded_level(dan_hears.packets[-3:]) > 0.05

    run_on_virtual_time(scenario())


def test_with_three_speakers_the_mix_waits_for_the_last_ones_frame_and_not_longer():
    async def scenario():
        room, (a, b, c), dan_hears, mixes, task, stop = await running_room(True, speakers=3)
        for speaker in (a, b, c):  # all three start talking
            room.hear(speaker, tone_frame(0))
        for n in range(3):  # all three talking: each mix waits for the third frame
            await mixes.spaced()
            room.hear(a, tone_frame(n))
            room.hear(b, tone_frame(n))
            await settle()
            waiting = len(dan_hears.packets)
            assert len(a.frames) == len(b.frames) == 1, n
            room.hear(c, tone_frame(n))
            await settle()
            assert len(dan_hears.packets) == waiting + 1 and not a.frames and not b.frames and not c.frames, n
        # c stops sending: the next mix waits ARRIVAL_GRACE_SECONDS past the clock for them,
        # then goes on without; once c has been silent ACTIVE_SECONDS, a and b are mixed on arrival.
        await mixes.next()
        room.hear(a, tone_frame(3))
        room.hear(b, tone_frame(3))
        await settle()
        assert len(a.frames) == 1
        await mixes.next()
        assert not a.frames and not b.frames
        await asyncio.sleep(0.08)
        await mixes.spaced()
        room.hear(a, tone_frame(4))
        room.hear(b, tone_frame(4))
        await settle()
        assert not a.frames and not b.frames
        await stopped(room, task, stop)

    run_on_virtual_time(scenario())


def test_a_burst_of_frames_is_mixed_no_faster_than_one_mix_per_15_ms():
    """After a network stall a speaker's frames arrive together (or a speaker floods): they
    drain a little faster than real time, never as fast as they come."""
    async def scenario():
        room, (bob,), dan_hears, mixes, task, stop = await running_room(True, speakers=1)
        await mixes.next()
        first = len(mixes.at)
        for n in range(3):
            room.hear(bob, tone_frame(n))
        while bob.frames:
            await mixes.next()
        gaps = np.diff(mixes.at[first - 1:])
        assert len(gaps) >= 3 and min(gaps) >= (FRAME_SECONDS - ARRIVAL_EARLY_SECONDS) * 0.95, gaps
        await stopped(room, task, stop)

    run_on_virtual_time(scenario())


def test_only_unmuted_speakers_heard_lately_are_waited_for():
    async def scenario():
        room = Room(mix_on_arrival=True)
        a = await room.admit("a", "speaker", RTCPeerConnection())
        b = await room.admit("b", "speaker", RTCPeerConnection())
        now = asyncio.get_running_loop().time
        assert not room.ready_to_mix(now())  # nobody talking: the clock mixes silence
        room.hear(b, tone_frame(0))
        b.frames.clear()  # mixed
        room.hear(a, tone_frame(1))
        assert not room.ready_to_mix(now())  # b talked a moment ago: their next frame is awaited
        room.set_muted("b", True)
        assert room.ready_to_mix(now())  # a muted speaker is not
        room.set_muted("b", False)
        b.heard_at = now() - ACTIVE_SECONDS - 0.01
        assert room.ready_to_mix(now())  # nor one silent for longer than ACTIVE_SECONDS
        await room.close()

    run(scenario())


def test_mixing_on_arrival_keeps_one_mix_per_20_ms_with_bursty_frames_and_a_slow_mix():
    """The room follows its speaker's pace, not the time a mix takes (a mix to thousands of
    listeners takes milliseconds) nor the way frames bunch up on the way."""
    async def scenario():
        room, (bob,), _, mixes, task, stop = await running_room(True, speakers=1)
        tick = room.tick

        def slow_tick() -> None:  # 8 ms of sending, as to a few thousand listeners
            tick()
            asyncio.get_running_loop().spend(0.008)  # type: ignore[attr-defined]

        room.tick = slow_tick  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        begun, counted = loop.time(), len(mixes.at)
        for n in range(0, 51, 3):  # 51 frames (1.02 s of speech) arriving three at a time every 60 ms
            for k in range(3):
                room.hear(bob, tone_frame(n + k))
            await asyncio.sleep(max(0.0, begun + (n + 3) * FRAME_SECONDS - loop.time()))
        mixed = len(mixes.at) - counted
        await stopped(room, task, stop)
        assert 46 <= mixed <= 54, mixed

    run_on_virtual_time(scenario())
