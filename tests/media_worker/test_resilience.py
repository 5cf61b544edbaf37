"""A room never goes silent: peers that vanish without a goodbye, or never connect, are
dropped alone; the mix keeps ticking for everyone else; a background task that crashes is
restarted, and /health tells when the mix is not running.

Peers vanish as a killed tab does: their sockets close under them, with no DTLS goodbye;
the worker notices only when its ICE consent checks go unanswered (shortened here with
``consent_timeout_seconds``, 30 s by default).
"""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from media_worker.__main__ import serve
from media_worker.config import WorkerConfig
from media_worker.room import Room
from media_worker.server import Worker
from tests.media_worker.peers import hears, offer, until, vanish
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET, SPACE, health, run_with_worker, token

VANISHING = 16  # listeners killed at once (the race that stopped the mix showed with many)


def test_peers_that_vanish_never_stop_the_mix_for_the_others():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, bob = await offer(session, url, token("bob", "speaker"), tone=660)  # a speaker vanishes too
        _, _, dan = await offer(session, url, token("dan", "listener"))
        gone = [(await offer(session, url, token(f"gone{i}", "listener")))[2] for i in range(VANISHING)]
        await until(lambda: all(hears(peer.recent(0.5), 440) for peer in (dan, *gone)), 30, "everyone hears the host")
        for peer in (bob, *gone):
            vanish(peer)
        await until(lambda: set(worker.room.participants) == {"ada", "dan"}, 30,
                    "the vanished are dropped when their consent expires")
        assert hears(await dan.next_audio(1.0), 440), "the listener left still hears the host"
        assert hears(await dan.next_audio(1.0), 440), "and goes on hearing"
        assert await health(session, url) == (200, "ok")
        assert worker.supervisor.restarts["mix"] == 0, "the mix never died"
        for peer in (ada, bob, dan, *gone):
            await peer.close()

    run_with_worker(scenario, consent_timeout_seconds=2)


def test_a_connected_peer_that_goes_silent_is_dropped_and_the_empty_room_closes():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        await until(lambda: worker.room.participants["ada"].pc.connectionState == "connected", 15)
        vanish(ada)
        await until(lambda: not worker.room.participants, 15, "dropped on consent failure")
        assert worker.room.empty_since is not None
        await asyncio.wait_for(worker.stop.wait(), timeout=10)  # the empty room's grace ran out
        await ada.close()

    run_with_worker(scenario, consent_timeout_seconds=2, empty_grace_seconds=0.5, heartbeat_seconds=0.1)


async def chromium_like_offer_to_a_closed_port() -> str:
    """A valid offer whose only candidate is a port nobody listens on any more, and without
    ``a=end-of-candidates`` (as Chromium sends them): ICE alone never gives up on it."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()  # its socket closes: the candidate points to a closed port
    return re.sub(r"a=end-of-candidates\r\n", "", sdp)


def test_a_peer_that_never_completes_ice_is_dropped_and_the_empty_room_closes():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        status, _, ghost = await offer(session, url, token("ghost", "listener"),
                                       sdp_override=await chromium_like_offer_to_a_closed_port(), apply_answer=False)
        assert status == 200 and "ghost" in worker.room.participants
        await until(lambda: "ghost" not in worker.room.participants, 15, "dropped at the connect deadline")
        async with session.get(f"{url}/metrics") as resp:
            assert sum((await resp.json())["participants"].values()) == 0
        await asyncio.wait_for(worker.stop.wait(), timeout=10)  # and the empty room closes
        await ghost.close()

    run_with_worker(scenario, connect_timeout_seconds=1.5, empty_grace_seconds=0.5, heartbeat_seconds=0.1)


def test_the_connect_deadline_spares_a_peer_that_connected():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        status, _, ghost = await offer(session, url, token("ghost", "listener"),
                                       sdp_override=await chromium_like_offer_to_a_closed_port(), apply_answer=False)
        assert status == 200
        await until(lambda: "ghost" not in worker.room.participants, 15)  # the others' deadlines passed before
        assert set(worker.room.participants) == {"ada", "dan"}
        assert hears(await dan.next_audio(0.8), 440)
        for peer in (ada, dan, ghost):
            await peer.close()

    run_with_worker(scenario, connect_timeout_seconds=1.5)


def test_a_crashed_mix_is_restarted_and_the_room_carries_on(caplog: pytest.LogCaptureFixture):
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.5), 440))
        real_tick, crashed = worker.room.tick, []

        def tick_that_crashes_once() -> None:
            if not crashed:
                crashed.append(True)
                raise RuntimeError("injected fault in the mix")
            real_tick()

        worker.room.tick = tick_that_crashes_once  # type: ignore[method-assign]
        await until(lambda: bool(crashed))
        assert hears(await dan.next_audio(1.0), 440), "the mix runs again"
        assert worker.supervisor.restarts["mix"] == 1
        assert await health(session, url) == (200, "ok")
        for peer in (ada, dan):
            await peer.close()

    with caplog.at_level(logging.ERROR, logger="media_worker.supervisor"):
        run_with_worker(scenario)
    (record,) = [r for r in caplog.records if r.name == "media_worker.supervisor"]
    assert record.exc_info and "injected fault in the mix" in str(record.exc_info[1]) and record.task == "mix"


def test_health_is_503_once_the_mix_stops_and_a_mix_that_keeps_crashing_stops_the_worker():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        assert await health(session, url) == (200, "ok")

        def broken_tick() -> None:
            raise RuntimeError("injected fault in the mix")

        worker.room.tick = broken_tick  # type: ignore[method-assign]
        answers: list[tuple[int, str]] = []

        async def poll() -> None:
            while not answers or answers[-1][0] == 200:
                answers.append(await health(session, url))
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), timeout=15)
        assert answers[-1] == (503, "unhealthy")
        await asyncio.wait_for(worker.stop.wait(), timeout=15)  # it gave up restarting it
        assert worker.failed and await health(session, url) == (503, "unhealthy")

    run_with_worker(scenario)


def test_a_worker_whose_mix_keeps_crashing_exits_non_zero(monkeypatch: pytest.MonkeyPatch):
    def broken_tick(self: Room) -> None:
        raise RuntimeError("injected fault in the mix")

    monkeypatch.setattr(Room, "tick", broken_tick)
    config = WorkerConfig(space_id=SPACE, token_public_key=PUBLIC_KEY, service_secret=SECRET, port=0)
    assert asyncio.run(asyncio.wait_for(serve(config), timeout=30)) == 1
