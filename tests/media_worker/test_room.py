"""The room's bookkeeping: who is on stage (mixed each tick) and who gets the listeners' mix,
through role changes, removal and re-offers that overlap."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection

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
