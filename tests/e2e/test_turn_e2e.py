"""The local stack's TURN relay (coturn, started by ``make run``): a listener that may only
use the relay, over TCP as behind a network that blocks UDP, with the credential its join
handed out, hears the speaker through the worker the API launched."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from local import turn
from media_worker import ice
from tests.e2e.http import Http, join, live_space
from tests.media_worker.peers import hears, offer_at, until
from tests.media_worker.relay_support import NOT_INSTALLED, local_candidate_types, relay_only, selected_local_candidate_type


async def _relayed_listener_hears(speaker: dict, speaker_media: dict, listener: dict, listener_media: dict) -> str | None:
    ice.gather_only_on("127.0.0.1")
    async with aiohttp.ClientSession() as session:
        status, body, speaker = await offer_at(session, speaker_media["offer_url"], speaker["token"], tone=440)
        assert status == 200, body
        configuration = relay_only(listener_media["ice_servers"], "tcp")
        status, body, listener = await offer_at(session, listener_media["offer_url"], listener["token"],
                                                configuration=configuration)
        assert status == 200, body
        try:
            assert local_candidate_types(listener.pc) == {"relay"}
            await until(lambda: hears(listener.recent(1.0), 440), timeout=20, message="the relayed listener never heard the speaker")
            return selected_local_candidate_type(listener.pc)
        finally:
            await speaker.close()
            await listener.close()


def test_a_listener_that_may_only_use_the_local_relay_hears_the_room(stack):
    if not turn.available():
        pytest.skip(NOT_INSTALLED)
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    space_id, (host, fan, _) = live_space(http, "Relayed", ("turn_host", "turn_fan", "turn_other"))
    host_media, fan_media = join(http, space_id, host)["media"], join(http, space_id, fan)["media"]
    (server,) = fan_media["ice_servers"]
    assert server["urls"] == turn.urls(stack.ports.turn) and server["username"].endswith(f":{fan['id']}")
    assert asyncio.run(_relayed_listener_hears(host, host_media, fan, fan_media)) == "relay"
    assert stack.failed() == []
