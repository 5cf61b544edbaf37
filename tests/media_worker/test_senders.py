"""A worker on two sender processes (``PARLOR_MEDIA_PROCESSES=2``): real aiortc peers on
loopback, real audio; the listeners' connections live in the senders, the stage in the mixing
process. An FFT of what each peer receives tells who hears whom."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from media_worker.server import Worker
from parlor_contract.worker import WorkerEnv
from tests.media_worker.peers import Peer, hears, offer, silent_at, until
from tests.media_worker.process_support import wait_until_ready, worker_setup
from tests.media_worker.worker_support import control, health, run_with_worker, token

LISTENERS = [f"listener{i}" for i in range(6)]


async def metrics(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        return dict(await resp.json())


def senders_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in report["processes"] if p["sender"] is not None]


async def both_senders_up(worker: Worker) -> None:
    """Both senders answer (the worker does not wait for them to announce itself)."""
    await until(lambda: worker.senders is not None and worker.senders.running() == 2, timeout=30,
                message="the senders never came up")


async def join_listeners(session: aiohttp.ClientSession, url: str, names: list[str]) -> dict[str, Peer]:
    peers = {}
    for name in names:
        status, _, peers[name] = await offer(session, url, token(name, "listener"))
        assert status == 200
    return peers


def test_listeners_spread_over_the_senders_and_all_hear_the_speaker_who_hears_nothing_of_itself():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        await both_senders_up(worker)
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        listeners = await join_listeners(session, url, LISTENERS)
        for name, peer in listeners.items():
            await until(lambda peer=peer: hears(peer.recent(0.8), 440), timeout=20, message=f"{name} hears the host")
        assert silent_at(await ada.next_audio(0.8), 440), "the host hears nothing of itself"
        assert list(worker.room.participants) == ["ada"], "the mixing process holds the stage only"
        report = await metrics(session, url)
        assert report["participants"] == {"host": 1, "cohost": 0, "speaker": 0, "listener": 6}
        senders = senders_of(report)
        assert len(senders) == 2 and sorted(s["listeners"] for s in senders) == [3, 3], senders
        assert len({p["pid"] for p in report["processes"]} | {os.getpid()}) == 3, "three processes, this one among them"
        assert all(s["packets_out"] > 0 and s["cpu_seconds"] > 0 for s in senders), "each sender sends, on its own CPU"
        assert report["packets_out"] == sum(p["packets_out"] for p in report["processes"])
        assert report["cpu_seconds"] == pytest.approx(sum(p["cpu_seconds"] for p in report["processes"]), abs=0.01)
        for peer in (ada, *listeners.values()):
            await peer.close()

    run_with_worker(scenario, processes=2)


def test_mute_remove_reoffer_and_promotion_across_processes():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        listeners = await join_listeners(session, url, LISTENERS[:4])
        first, second, third, fourth = listeners.values()
        await until(lambda: all(hears(p.recent(0.8), 440) for p in listeners.values()), timeout=20)

        assert await control(session, url, {"action": "mute", "user_id": "ada"}) == 200
        await until(lambda: all(silent_at(p.recent(0.6), 440) for p in listeners.values()), message="muted: silence")
        assert await control(session, url, {"action": "unmute", "user_id": "ada"}) == 200
        await until(lambda: all(hears(p.recent(0.6), 440) for p in listeners.values()), message="unmuted: heard")

        # Removed: that listener's connection closes in its sender; the others go on hearing.
        assert await control(session, url, {"action": "remove", "user_id": LISTENERS[0]}) == 200
        await asyncio.wait_for(first.ended.wait(), timeout=10)
        for peer in (second, third, fourth):
            assert hears(await peer.next_audio(0.6), 440), "the others still hear"
        assert (await metrics(session, url))["participants"]["listener"] == 3

        # A listener offering again is counted once, and hears on its new connection.
        _, _, second_again = await offer(session, url, token(LISTENERS[1], "listener"))
        await until(lambda: hears(second_again.recent(0.6), 440), message="the re-offered listener hears")
        assert (await metrics(session, url))["participants"]["listener"] == 3
        await second.close()

        # Promoted: its sender drops it, it offers again (to the mixing process) and is heard.
        assert await control(session, url, {"action": "set_role", "user_id": LISTENERS[2], "role": "speaker"}) == 200
        await asyncio.wait_for(third.ended.wait(), timeout=10)
        _, _, speaker = await offer(session, url, token(LISTENERS[2], "speaker"), tone=660)
        await until(lambda: hears(fourth.recent(0.8), 660) and hears(second_again.recent(0.8), 660),
                    message="listeners hear the promoted speaker")
        await until(lambda: hears(ada.recent(0.8), 660), message="the host hears the promoted speaker")
        assert silent_at(await speaker.next_audio(0.8), 660), "the promoted speaker hears nothing of itself"
        report = await metrics(session, url)
        assert report["participants"] == {"host": 1, "cohost": 0, "speaker": 1, "listener": 2}
        assert sum(s["listeners"] for s in senders_of(report)) == 2
        for peer in (ada, speaker, second_again, fourth, first, third):
            await peer.close()

    run_with_worker(scenario, processes=2)


def test_a_killed_sender_is_reported_and_restarted_while_the_rest_of_the_room_goes_on():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        await both_senders_up(worker)
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        listeners = await join_listeners(session, url, LISTENERS[:4])
        await until(lambda: all(hears(p.recent(0.8), 440) for p in listeners.values()), timeout=20)
        assert await health(session, url) == (200, "ok")
        victim = senders_of(await metrics(session, url))[0]
        os.kill(victim["pid"], signal.SIGKILL)

        async with session.get(f"{url}/health") as resp:
            body = await resp.json()
        deadline = time.monotonic() + 5
        while resp.status == 200 and time.monotonic() < deadline:  # until the supervisor has seen it die
            await asyncio.sleep(0.02)
            async with session.get(f"{url}/health") as resp:
                body = await resp.json()
        assert resp.status == 503 and body["senders"]["down"] == [victim["sender"]], body

        survivors = [p for name, p in listeners.items() if worker.senders and worker.senders.holds(name)]
        assert len(survivors) == 2, "the dead sender's listeners are forgotten, the others are not"
        for peer in survivors:
            assert hears(await peer.next_audio(0.6), 440), "the other sender's listeners still hear"
        await until(lambda: worker.senders is not None and not worker.senders.down(), timeout=20,
                    message="the sender is started again")
        status, body = 0, {}
        async with session.get(f"{url}/health") as resp:
            status, body = resp.status, await resp.json()
        assert status == 200 and body["senders"] == {"running": 2, "down": [], "restarts": 1}
        report = await metrics(session, url)
        assert report["participants"]["listener"] == 2, "the dead sender's listeners left the counts"
        assert victim["pid"] not in {p["pid"] for p in report["processes"]}
        # Its listeners offer again (the API re-sends them) and are heard again.
        lost = [name for name in listeners if worker.senders is not None and not worker.senders.holds(name)]
        again = await join_listeners(session, url, lost)
        await until(lambda: all(hears(p.recent(0.6), 440) for p in again.values()), timeout=20)
        assert (await metrics(session, url))["participants"]["listener"] == 4
        for peer in (ada, *listeners.values(), *again.values()):
            await peer.close()

    run_with_worker(scenario, processes=2)


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie awaiting its parent's wait is not)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["terminated", "killed"])
def test_no_sender_outlives_its_worker_process(tmp_path: Path, how: signal.Signals):
    with worker_setup(tmp_path) as setup:
        setup.env[WorkerEnv.PROCESSES] = "2"
        proc = setup.start()
        try:
            wait_until_ready(setup, proc)
            senders = children_of(proc.pid)
            assert len(senders) == 2, senders
            proc.send_signal(how)
            proc.wait(timeout=20)
            deadline = time.monotonic() + 15
            while any(alive(pid) for pid in senders) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(alive(pid) for pid in senders), "a sender outlived its worker"
        finally:
            if proc.poll() is None:
                proc.kill()


def test_one_process_has_no_senders():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.6), 440))
        assert worker.senders is None and set(worker.room.participants) == {"ada", "dan"}
        report = await metrics(session, url)
        assert [p["pid"] for p in report["processes"]] == [os.getpid()] and report["processes"][0]["listeners"] == 1
        assert "senders" not in (await (await session.get(f"{url}/health")).json())
        await ada.close()
        await dan.close()

    run_with_worker(scenario, processes=1)



def test_a_listener_offering_before_the_senders_are_up_waits_for_one():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        assert worker.senders is not None and worker.senders.running() == 0, "the worker answers before its senders"
        async with session.get(f"{url}/health") as resp:
            assert resp.status == 200 and (await resp.json())["senders"]["down"] == [], "starting is not down"
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        status, _, dan = await offer(session, url, token("dan", "listener"))
        assert status == 200 and worker.senders.running() >= 1
        await until(lambda: hears(dan.recent(0.6), 440), timeout=20)
        await ada.close()
        await dan.close()

    run_with_worker(scenario, processes=2)


def test_process_reports_merge_by_summing_counts_and_uniting_per_user_blocks():
    from media_worker.metrics import merge

    main = {"pid": 1, "participants": {"host": 1, "listener": 0}, "packets_out": 10, "cpu_seconds": 0.5, "kind": "main"}
    one = {"pid": 2, "participants": {"host": 0, "listener": 3}, "packets_out": 150, "cpu_seconds": 1.25,
           "listeners_loss": {"lost": 2, "by_user": {"ann": {"lost": 2, "fraction": 0.01}}}, "kind": "sender"}
    two = {"pid": 3, "participants": {"host": 0, "listener": 2}, "packets_out": 100, "cpu_seconds": 1.0,
           "listeners_loss": {"lost": 0, "by_user": {"bob": {"lost": 0, "fraction": 0.0}}}}
    assert merge([main, one, two]) == {
        "participants": {"host": 1, "listener": 5}, "packets_out": 260, "cpu_seconds": 2.75, "kind": "main",
        "listeners_loss": {"lost": 2, "by_user": {"ann": {"lost": 2, "fraction": 0.01}, "bob": {"lost": 0, "fraction": 0.0}}}}
