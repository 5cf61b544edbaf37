"""Joining hands out the TURN relay with the media admission: short-lived credentials
(TURN REST API) a client gives its peer connection, or none when no relay is configured."""

from __future__ import annotations

from datetime import datetime

import pytest

from chalicelib.settings import Settings
from tests.api.rooms_support import make_host, make_person
from tests.conftest import TEST_SETTINGS
from tests.unit.test_turn import coturn_accepts

TURN_URLS = ("turn:turn.test:3478?transport=udp", "turn:turn.test:3478?transport=tcp")
TURN_SECRET = "api-test-turn-secret-0123456789"
WITH_RELAY = {"turn_urls": TURN_URLS, "turn_secret": TURN_SECRET, "turn_ttl_seconds": 300}


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return TEST_SETTINGS.model_copy(update=getattr(request, "param", {}))


def _join(api, handle: str) -> tuple[str, dict]:
    host = make_host(api, f"{handle}_host")
    space_id = api.post("/v1/spaces", {"title": "Relayed"}, token=host.token).body["id"]
    guest = make_person(api, handle)
    reply = api.post(f"/v1/spaces/{space_id}/join", token=guest.token)
    assert reply.status == 200, reply.body
    return guest.id, reply.body["media"]


@pytest.mark.parametrize("settings", [WITH_RELAY], indirect=True)
def test_join_mints_a_relay_credential_for_the_joiner_that_expires(api, clock):
    user_id, media = _join(api, "relayed")
    (server,) = media["ice_servers"]
    assert server["urls"] == list(TURN_URLS)
    expiry = int(clock.now().timestamp()) + 300
    assert server["username"] == f"{expiry}:{user_id}"
    assert datetime.fromisoformat(media["ice_servers_expire_at"]).timestamp() == expiry
    assert coturn_accepts(server["username"], server["credential"], TURN_SECRET, clock.now())
    assert not coturn_accepts(server["username"], server["credential"], TURN_SECRET, clock.advance(seconds=301))


def test_without_a_relay_configured_join_hands_out_no_ice_servers(api):
    _, media = _join(api, "direct")
    assert media["ice_servers"] == [] and media["ice_servers_expire_at"] is None


def test_the_spec_describes_the_ice_servers_of_a_join(api):
    spec = api.get("/openapi.json").body
    schemas = spec["components"]["schemas"]
    media = schemas["MediaConnection"]
    assert {"offer_url", "ice_servers", "ice_servers_expire_at"} <= set(media["required"])
    assert set(schemas["IceServerOut"]["required"]) == {"urls", "username", "credential"}
