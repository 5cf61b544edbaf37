"""The media worker with real aiortc peers on loopback exchanging real audio.

Speakers send distinct tones (440 Hz, 660 Hz); an FFT of what each peer receives tells who
hears whom.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from chalicelib.services.tokens import generate_media_keypair
from media_worker.server import Worker
from tests.media_worker.peers import hears, offer, silent_at, until
from tests.media_worker.worker_support import SPACE, control, now_ms, run_with_worker, token


def test_everyone_hears_every_speaker_but_themselves_and_listeners_are_never_heard():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, bob = await offer(session, url, token("bob", "speaker"), tone=660)
        # A listener that tries to send anyway (a tone at 880 Hz) is not forwarded.
        _, _, cleo = await offer(session, url, token("cleo", "listener"), tone=880)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(1.0), 440) and hears(dan.recent(1.0), 660), message="a listener hears both speakers")
        await until(lambda: hears(ada.recent(1.0), 660) and hears(bob.recent(1.0), 440) and hears(cleo.recent(1.0), 440))
        listener_audio = await dan.next_audio(1.0)
        assert hears(listener_audio, 440) and hears(listener_audio, 660), "a listener hears both speakers"
        assert silent_at(listener_audio, 880), "a listener's audio reaches nobody"
        ada_audio, bob_audio, cleo_audio = ada.recent(1.0), bob.recent(1.0), cleo.recent(1.0)
        assert hears(ada_audio, 660) and silent_at(ada_audio, 440), "a speaker does not hear itself"
        assert hears(bob_audio, 440) and silent_at(bob_audio, 660)
        assert silent_at(ada_audio, 880) and silent_at(bob_audio, 880)
        assert hears(cleo_audio, 440) and silent_at(cleo_audio, 880)
        for peer in (ada, bob, cleo, dan):
            await peer.close()

    run_with_worker(scenario)


def test_a_muted_speaker_goes_silent_and_a_demoted_one_too():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, bob = await offer(session, url, token("bob", "speaker"), tone=660)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.8), 660) and hears(dan.recent(0.8), 440))
        assert await control(session, url, {"action": "mute", "user_id": "bob"}) == 200
        await until(lambda: silent_at(dan.recent(0.6), 660), message="a muted speaker goes silent")
        after_mute = await dan.next_audio(0.6)
        assert silent_at(after_mute, 660) and hears(after_mute, 440), "and stays silent, while the others are heard"
        assert await control(session, url, {"action": "set_role", "user_id": "ada", "role": "listener"}) == 200
        await until(lambda: silent_at(dan.recent(0.6), 440), message="a demoted speaker goes silent")
        assert silent_at(await dan.next_audio(0.6), 440)
        for peer in (ada, bob, dan):
            await peer.close()

    run_with_worker(scenario)


def test_a_promoted_listener_reoffers_with_a_track_and_is_heard():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"), tone=660)
        await until(lambda: hears(dan.recent(0.8), 440))  # both connected and audio flows
        assert silent_at(await ada.next_audio(0.8), 660), "a listener's tone is not heard"
        assert await control(session, url, {"action": "set_role", "user_id": "dan", "role": "speaker"}) == 200
        await dan.close()
        _, _, dan_again = await offer(session, url, token("dan", "speaker"), tone=660)
        await until(lambda: hears(ada.recent(0.8), 660), message="the promoted speaker is heard")
        await until(lambda: hears(dan_again.recent(0.8), 440))
        assert silent_at(dan_again.recent(0.8), 660)
        assert len(worker.room.participants) == 2
        await ada.close()
        await dan_again.close()

    run_with_worker(scenario)


def test_a_removed_participant_is_disconnected():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.5), 440))
        assert await control(session, url, {"action": "remove", "user_id": "dan"}) == 200
        await asyncio.wait_for(dan.ended.wait(), timeout=10)
        assert "dan" not in worker.room.participants and "ada" in worker.room.participants
        await ada.close()
        await dan.close()

    run_with_worker(scenario)


@pytest.mark.parametrize("bad", ["forged", "expired", "other_space", "other_audience", "unknown_role", "missing"])
def test_bad_media_tokens_are_refused(bad):
    forged_key, _ = generate_media_keypair()
    tokens = {"forged": token("eve", "speaker", key=forged_key), "expired": token("eve", "speaker", ttl=-10),
              "other_space": token("eve", "speaker", space_id="ANOTHERSPACE"),
              "other_audience": token("eve", "speaker", audience="parlor-realtime"),
              "unknown_role": token("eve", "king"), "missing": ""}

    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        status, body, peer = await offer(session, url, tokens[bad], tone=440)
        assert status == 401 and body["error"]["code"] == "invalid_token"
        assert worker.room.participants == {}
        await peer.close()

    run_with_worker(scenario)


def test_a_malformed_offer_gets_400_and_does_not_disturb_the_room():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        status, body, junk = await offer(session, url, token("eve", "listener"), sdp_override="v=0\r\nthis is not sdp\r\n")
        assert status == 400 and body["error"]["code"] == "bad_offer"
        async with session.post(f"{url}/offer", data=b"{not json", headers={"Authorization": f"Bearer {token('eve', 'listener')}"}) as r:
            assert r.status == 400
        await until(lambda: hears(dan.recent(0.8), 440), message="the room carries on")
        assert set(worker.room.participants) == {"ada", "dan"}
        for peer in (ada, dan, junk):
            await peer.close()

    run_with_worker(scenario)


def test_overlapping_reoffers_from_one_user_are_answered_and_leave_one_connection():
    """The later offer wins; one superseded while being answered gets 409 offer_superseded."""

    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.5), 440))
        again = await asyncio.gather(*(offer(session, url, token("dan", "listener")) for _ in range(3)))
        assert {status for status, _, _ in again} <= {200, 409} and 200 in {status for status, _, _ in again}
        assert all(body["error"]["code"] == "offer_superseded" for status, body, _ in again if status == 409)
        assert set(worker.room.participants) == {"ada", "dan"} and len(worker.room.listeners) == 1
        await until(lambda: any(hears(peer.recent(0.5), 440) for _, _, peer in again), message="the winner hears the host")
        for peer in (ada, dan, *(peer for _, _, peer in again)):
            await peer.close()

    run_with_worker(scenario)


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/nowhere", b"", 404), ("GET", "/offer", b"", 405), ("POST", "/offer", b"x" * 70_000, 413)])
def test_every_error_is_json_in_the_envelope(method, path, body, status):
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {token('eve', 'listener')}"}
        async with session.request(method, f"{url}{path}", data=body, headers=headers) as resp:
            assert resp.status == status and resp.content_type == "application/json"
            error = (await resp.json())["error"]
            assert error["code"] and error["message"]

    run_with_worker(scenario)


def test_a_speaker_admitted_muted_is_not_heard_and_a_reoffer_keeps_a_mute():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, bob = await offer(session, url, token("bob", "speaker", muted=True), tone=660)  # muted by a host
        _, _, carl = await offer(session, url, token("carl", "speaker", muted=False), tone=880)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.8), 440) and hears(dan.recent(0.8), 880))
        heard = await dan.next_audio(1.0)
        assert hears(heard, 440) and silent_at(heard, 660), "the muted grant's speaker is not heard"
        assert worker.room.participants["bob"].muted
        # Carl is muted by the API; then a grant it decided before the mute reaches the worker.
        before_the_mute = now_ms() - 1
        assert await control(session, url, {"action": "mute", "user_id": "carl"}) == 200
        await carl.close()
        _, _, carl_again = await offer(session, url, token("carl", "speaker", decided_at=before_the_mute), tone=880)
        await until(lambda: hears(carl_again.recent(0.5), 440), message="his new connection is up")
        assert silent_at(await dan.next_audio(1.0), 880), "a re-offer keeps the mute"
        assert await control(session, url, {"action": "unmute", "user_id": "carl"}) == 200
        await until(lambda: hears(dan.recent(0.5), 880), message="only the API's unmute lifts it")
        for peer in (ada, bob, carl, carl_again, dan):
            await peer.close()

    run_with_worker(scenario)


def test_control_needs_a_valid_signature_and_a_known_action():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        assert await control(session, url, {"action": "close"}, secret="wrong-secret") == 401
        assert await control(session, url, {"action": "close"}, key_space="ANOTHERSPACE") == 401
        assert await control(session, url, {"action": "close"}, signed_at=time.time() - 301) == 401  # stale
        async with session.post(f"{url}/control", json={"action": "close"}) as resp:
            assert resp.status == 401
        assert await control(session, url, {"action": "explode"}) == 400
        assert await control(session, url, {"action": "mute"}) == 400
        assert await control(session, url, {"action": "set_role", "user_id": "x", "role": "king"}) == 400
        assert not worker.stop.is_set()
        assert await control(session, url, {"action": "close"}) == 200
        assert worker.stop.is_set()

    run_with_worker(scenario)


def test_health_and_metrics():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: worker.room.counters.frames_in > 10 and worker.room.counters.packets_out > 20)
        async with session.get(f"{url}/health") as resp:
            assert resp.status == 200 and (await resp.json())["space_id"] == SPACE
        async with session.get(f"{url}/metrics") as resp:
            metrics = await resp.json()
        assert metrics["participants"] == {"host": 1, "cohost": 0, "speaker": 0, "listener": 1}
        assert metrics["frames_in"] > 10 and metrics["packets_out"] > 20 and metrics["cpu_seconds"] > 0
        await ada.close()
        await dan.close()

    run_with_worker(scenario)


def test_an_empty_room_closes_after_the_grace_period():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, dan = await offer(session, url, token("dan", "listener"))
        # Occupied for twice the grace period: still serving (fails as soon as it stops).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(worker.stop.wait(), timeout=1.0)
        await control(session, url, {"action": "remove", "user_id": "dan"})
        await asyncio.wait_for(worker.stop.wait(), timeout=5)
        await dan.close()

    run_with_worker(scenario, empty_grace_seconds=0.5, heartbeat_seconds=0.1)


def test_there_is_no_worker_without_a_service_secret():
    """Anyone can compute a MAC with an empty key; since issue 15 such a worker does not start
    (tests/media_worker/test_config.py, tests/security/test_secrets.py)."""
    with pytest.raises(ValueError, match="PARLOR_SERVICE_SECRET is not set"):
        run_with_worker(lambda url, worker, session: asyncio.sleep(0), service_secret="")
