"""A client whose network blocks UDP reaches the room through the TURN relay: a real coturn,
a real worker, a speaker on a host candidate and a listener that may use nothing but the relay,
with the short-lived credential the API mints. Wrong or expired credentials get no relay, so
that listener connects not at all."""

from __future__ import annotations

from datetime import timedelta
from typing import Iterator

import aiohttp
import pytest

from chalicelib.clock import ManualClock, SystemClock
from chalicelib.services.turn import TurnCredentials
from media_worker.server import Worker
from tests.media_worker.peers import hears, offer, until
from tests.media_worker.relay_support import Relay, local_candidate_types, relay_only, run_relay, selected_local_candidate_type
from tests.media_worker.worker_support import run_with_worker, token

TTL = 600


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    yield from run_relay(tmp_path_factory.mktemp("turn"))


@pytest.fixture(scope="module")
def tcp_only_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """A relay with no UDP listener: only a client that reaches it over TCP gets through."""
    yield from run_relay(tmp_path_factory.mktemp("turn-tcp"), "--no-udp")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_listener_that_may_only_use_the_relay_hears_the_speaker(request, transport):
    relay: Relay = request.getfixturevalue("relay" if transport == "udp" else "tcp_only_relay")
    grant = TurnCredentials(relay.urls, relay.secret, TTL, SystemClock()).grant("dan")

    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        status, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        assert status == 200
        status, body, dan = await offer(session, url, token("dan", "listener"), configuration=relay_only(grant, transport))
        assert status == 200, body
        assert local_candidate_types(dan.pc) == {"relay"}, "the listener offered nothing but its relayed address"
        await until(lambda: hears(dan.recent(1.0), 440), timeout=20, message="the relayed listener never heard the speaker")
        assert selected_local_candidate_type(dan.pc) == "relay"
        assert hears(await dan.next_audio(1.0), 440), "and keeps hearing it"
        await dan.close()
        await ada.close()

    run_with_worker(scenario)


@pytest.mark.parametrize("credentials", ["wrong_secret", "expired"])
def test_a_relay_only_listener_with_bad_credentials_connects_not_at_all(relay, credentials):
    if credentials == "wrong_secret":
        grant = TurnCredentials(relay.urls, "not-the-relay-secret", TTL, SystemClock()).grant("dan")
    else:  # minted by the API's own service, but longer ago than its lifetime
        long_ago = ManualClock(SystemClock().now() - timedelta(seconds=TTL + 60))
        grant = TurnCredentials(relay.urls, relay.secret, TTL, long_ago).grant("dan")

    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"), configuration=relay_only(grant, "udp"))
        assert local_candidate_types(dan.pc) == set(), "the relay refused the allocation: nothing to offer"
        # A listener beside it hears the room, so the room's audio really flowed meanwhile.
        _, _, cleo = await offer(session, url, token("cleo", "listener"))
        assert hears(await cleo.next_audio(1.0, timeout=20), 440)
        assert dan.frames == [] and dan.pc.connectionState != "connected" and selected_local_candidate_type(dan.pc) is None
        for peer in (dan, cleo, ada):
            await peer.close()

    run_with_worker(scenario)
    refused = f"Cannot find credentials of user <{grant.ice_servers[0].username}>"
    assert refused in relay.log.read_text(errors="replace"), "coturn saw the credential and refused it"
