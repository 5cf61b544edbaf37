"""TURN relay credentials (TURN REST API, as coturn checks them with ``use-auth-secret``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.clock import ManualClock
from chalicelib.services.turn import NO_RELAY, TurnCredentials

SECRET = "turn-unit-test-secret-0123456789"
URLS = ("turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=tcp")


def coturn_accepts(username: str, password: str, secret: str, now: datetime) -> bool:
    """What coturn does with an allocation request: the expiry before the first ':' has not
    passed, and the password is base64(HMAC-SHA1(secret, username))."""
    expiry = int(username.split(":", 1)[0])
    expected = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return expiry >= int(now.timestamp()) and hmac.compare_digest(expected, password)


def test_a_credential_is_the_hmac_of_an_expiring_username_and_lives_its_ttl():
    clock = ManualClock(datetime(2026, 11, 30, 9, 0, 0, 400_000, tzinfo=UTC))
    grant = TurnCredentials(URLS, SECRET, 600, clock).grant("01USER")
    (server,) = grant.ice_servers
    assert server.urls == URLS
    expiry = int(datetime(2026, 11, 30, 9, 10, tzinfo=UTC).timestamp())
    assert server.username == f"{expiry}:01USER"
    assert grant.expires_at == datetime(2026, 11, 30, 9, 10, tzinfo=UTC)
    assert coturn_accepts(server.username, server.credential, SECRET, clock.now())
    assert coturn_accepts(server.username, server.credential, SECRET, clock.advance(seconds=599))
    assert not coturn_accepts(server.username, server.credential, SECRET, clock.advance(seconds=2)), "expired"


def test_a_credential_is_worthless_with_another_secret_or_another_user():
    clock = ManualClock()
    server = TurnCredentials(URLS, SECRET, 600, clock).grant("01USER").ice_servers[0]
    assert not coturn_accepts(server.username, server.credential, "another-secret", clock.now())
    someone_else = server.username.replace("01USER", "01OTHER")
    assert not coturn_accepts(someone_else, server.credential, SECRET, clock.now())


def test_each_join_gets_a_fresh_credential():
    clock = ManualClock()
    credentials = TurnCredentials(URLS, SECRET, 600, clock)
    first = credentials.grant("01USER")
    clock.advance(seconds=30)
    second = credentials.grant("01USER")
    assert second.expires_at == first.expires_at + timedelta(seconds=30)
    assert second.ice_servers[0].credential != first.ice_servers[0].credential


def test_no_turn_urls_no_relay():
    assert TurnCredentials((), "", 600, ManualClock()).grant("01USER") == NO_RELAY
    assert NO_RELAY.ice_servers == () and NO_RELAY.expires_at is None


def test_urls_without_a_secret_are_refused_at_start():
    with pytest.raises(ValueError, match="secret"):
        TurnCredentials(URLS, "", 600, ManualClock())
