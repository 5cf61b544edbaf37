"""Session and room tokens: signed, expiring, bound to their audience."""

from __future__ import annotations

import jwt
import pytest

from chalicelib.clock import ManualClock
from chalicelib.errors import Unauthorized
from chalicelib.services.tokens import RoomTokens, SessionTokens, generate_media_keypair

SECRET = "unit-test-secret-0123456789abcdef0123"


def test_session_token_round_trip_and_expiry():
    clock = ManualClock()
    tokens = SessionTokens(SECRET, 60, clock)
    token = tokens.issue("user-1")
    assert tokens.verify(token) == "user-1"
    clock.advance(seconds=60)
    with pytest.raises(Unauthorized):
        tokens.verify(token)


def test_session_token_from_another_secret_is_refused():
    clock = ManualClock()
    forged = SessionTokens("another-secret-0123456789abcdef0123", 60, clock).issue("user-1")
    with pytest.raises(Unauthorized):
        SessionTokens(SECRET, 60, clock).verify(forged)


def test_a_realtime_token_is_not_a_session_token():
    clock = ManualClock()
    private, _ = generate_media_keypair()
    realtime = RoomTokens(private, SECRET, clock).realtime("space-1", "user-1", "listener")
    with pytest.raises(Unauthorized):
        SessionTokens(SECRET, 60, clock).verify(realtime)


def test_media_grant_verifies_only_with_the_public_key_and_carries_the_room():
    clock = ManualClock()
    private, public = generate_media_keypair()
    token = RoomTokens(private, SECRET, clock).media_grant("space-1", "user-1", "speaker", False, clock.now())
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience="parlor-media",
                        options={"verify_exp": False, "verify_iat": False})
    assert (claims["space_id"], claims["sub"], claims["role"]) == ("space-1", "user-1", "speaker")
    assert claims["exp"] - claims["iat"] == 10  # seconds: one offer's relay
    _, other_public = generate_media_keypair()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_public, algorithms=["EdDSA"], audience="parlor-media", options={"verify_exp": False})


def test_realtime_token_round_trip_and_expiry():
    clock = ManualClock()
    private, _ = generate_media_keypair()
    tokens = RoomTokens(private, SECRET, clock)
    token = tokens.realtime("space-1", "user-1", "host")
    claims = tokens.verify_realtime(token)
    assert (claims["space_id"], claims["sub"], claims["role"]) == ("space-1", "user-1", "host")
    assert claims["jti"] != tokens.verify_realtime(tokens.realtime("space-1", "user-1", "host"))["jti"]  # each spent once
    clock.advance(seconds=301)
    with pytest.raises(Unauthorized):
        tokens.verify_realtime(token)
    with pytest.raises(Unauthorized):
        tokens.verify_realtime("garbage")
