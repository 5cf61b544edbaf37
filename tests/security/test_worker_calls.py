"""What a media worker takes from outside, attacked over its HTTP face with real peers: media
grants admit once, only as the API decided last, and only when minted per offer; control
calls and claims name their space, are signed with that space's key over method and path,
and are obeyed once."""

from __future__ import annotations

import json
import time

import aiohttp
import jwt

from media_worker.server import Worker
from parlor_contract import signatures
from parlor_contract.media import CONTROL_PATH
from parlor_contract.worker import POOL_CLAIM_PATH
from tests.media_worker.peers import offer
from tests.media_worker.worker_support import PRIVATE_KEY, SECRET, SPACE, control, now_ms, run_with_worker, token


async def _by_role(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with session.get(f"{url}/metrics") as resp:
        return (await resp.json())["participants"]


def test_a_grant_admits_once():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        grant = token("ada", "speaker")
        status, _, first = await offer(session, url, grant, tone=440)
        assert status == 200
        status, body, replayed = await offer(session, url, grant, tone=440)
        assert status == 401 and body["error"]["code"] == "grant_used"
        assert (await _by_role(session, url))["speaker"] == 1
        for peer in (first, replayed):
            await peer.close()

    run_with_worker(scenario)


def test_a_token_as_join_used_to_hand_clients_is_refused():
    """Long-lived (120 s) and without a grant id: what a client could hold and replay."""
    now = int(time.time())
    held = jwt.encode({"sub": "eve", "space_id": SPACE, "role": "speaker", "muted": False, "aud": "parlor-media",
                       "iat": now, "exp": now + 120}, PRIVATE_KEY, algorithm="EdDSA")
    long_lived = token("eve", "speaker", ttl=120)

    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        for stale in (held, long_lived):
            status, body, peer = await offer(session, url, stale, tone=440)
            await peer.close()
            assert status == 401 and body["error"]["code"] == "invalid_token"
        assert worker.room.participants == {}

    run_with_worker(scenario)


def test_a_grant_decided_before_a_removal_or_a_demotion_yields_to_it():
    """The API decided (grant), then removed or demoted them; the control call reached the worker
    before the relayed offer did."""
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        decided = now_ms() - 50
        assert await control(session, url, {"action": "remove", "user_id": "eve"}) == 200
        assert await control(session, url, {"action": "set_role", "user_id": "bob", "role": "listener"}) == 200
        assert await control(session, url, {"action": "mute", "user_id": "carl"}) == 200
        status, body, eve = await offer(session, url, token("eve", "speaker", decided_at=decided), tone=440)
        assert status == 403 and body["error"]["code"] == "not_admitted"
        status, _, bob = await offer(session, url, token("bob", "speaker", decided_at=decided), tone=660)
        status_carl, _, carl = await offer(session, url, token("carl", "speaker", decided_at=decided), tone=880)
        assert status == status_carl == 200
        assert (worker.room.participants["bob"].role, worker.room.participants["carl"].muted) == ("listener", True)
        assert await _by_role(session, url) == {"host": 0, "cohost": 0, "speaker": 1, "listener": 1}
        # A later grant (the API let eve back in, as a listener) is taken.
        status, _, eve_again = await offer(session, url, token("eve", "listener"))
        assert status == 200
        for peer in (eve, bob, carl, eve_again):
            await peer.close()

    run_with_worker(scenario)


def test_a_control_call_is_obeyed_once():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        status, _, bob = await offer(session, url, token("bob", "speaker"), tone=660)
        assert status == 200
        assert await control(session, url, {"action": "mute", "user_id": "bob"}, nonce="captured-nonce") == 200
        assert await control(session, url, {"action": "unmute", "user_id": "bob"}) == 200
        # The mute call, captured on the way, is sent again: refused, bob stays unmuted.
        assert await control(session, url, {"action": "mute", "user_id": "bob"}, nonce="captured-nonce") == 409
        assert worker.room.participants["bob"].muted is False
        await bob.close()

    run_with_worker(scenario)


def test_a_control_call_for_another_space_or_route_or_signed_the_old_way_is_refused():
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        # Signed with another space's key (captured at that space's worker).
        assert await control(session, url, {"action": "close"}, key_space="01ANOTHERSPACE") == 401
        # Naming another space, signed with this one's key.
        assert await control(session, url, {"action": "close", "space_id": "01ANOTHERSPACE"}) == 403
        # Signed for another route (a claim's signature on a control call).
        assert await control(session, url, {"action": "close"}, path=POOL_CLAIM_PATH) == 401
        # Signed with the service secret itself, as before: no space, method, path or nonce.
        body = json.dumps({"space_id": SPACE, "action": "close", "decided_at": now_ms()}).encode()
        async with session.post(f"{url}{CONTROL_PATH}", data=body,
                                headers={signatures.HEADER: signatures.sign(SECRET, body)}) as resp:
            assert resp.status == 401
        assert not worker.stop.is_set()

    run_with_worker(scenario)
