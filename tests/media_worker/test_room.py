"""The room's bookkeeping: who is on stage (mixed each tick) and who gets the listeners' mix,
through role changes, removal and re-offers that overlap."""

from __future__ import annotations

import asyncio

import av
import numpy as np
from aiortc import RTCPeerConnection

from media_worker.mixer import FRAME_SAMPLES
from media_worker.room import Room


class SlowToClose(RTCPeerConnection):
    """A connection whose close takes a moment (DTLS close_notify, ICE teardown) and yields."""

    async def close(self) -> None:
        await asyncio.sleep(0.01)
        await super().close()


def run(coro):
    return asyncio.run(coro)


def test_promotion_demotion_and_removal_move_a_participant_between_stage_and_audience():
    async def scenario():
        room = Room()
        speaker = await room.admit("u", "speaker", RTCPeerConnection())
        assert room.stage == {"u": speaker} and speaker.sink not in room.listeners.tracks
        room.set_role("u", "listener")
        assert room.stage == {} and speaker.sink in room.listeners.tracks
        room.set_role("u", "cohost")
        assert room.stage == {"u": speaker} and speaker.sink not in room.listeners.tracks
        assert await room.remove("u")
        assert room.participants == {} and room.stage == {} and not room.listeners.tracks
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
        assert not room.listeners.tracks  # the overlapped listener connection is gone too
        assert first.connectionState == second.connectionState == "closed"
        await room.remove("u")
        assert room.participants == {} and room.stage == {} and not room.listeners.tracks

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
        assert room.listeners.tracks == {dan_hears}
        await room.close()

    run(scenario())
