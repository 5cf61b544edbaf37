"""Accounts: sign-up, sign-in, tokens, look-ups, validation."""

from __future__ import annotations

import jwt
import pytest

from chalicelib.models.users import HandleModel, UserModel


def _count_users() -> int:
    return UserModel.count() + HandleModel.count()


def test_sign_up_returns_user_and_token(api):
    reply = api.post("/v1/accounts", {"handle": "Ada_L", "display_name": "Ada", "password": "s3cret-pass"})
    assert reply.status == 201
    user = reply.body["user"]
    assert user["handle"] == "Ada_L" and user["display_name"] == "Ada"
    assert user["follower_count"] == 0 and user["following_count"] == 0 and user["can_host"] is False
    me = api.get("/v1/me", token=reply.body["token"])
    assert me.status == 200 and me.body == user


def test_password_is_stored_hashed_with_argon2(api):
    user_id, _ = api.sign_up("hashme", password="plain-text-pw")
    stored = UserModel.get(user_id).password_hash
    assert stored.startswith("$argon2id$") and "plain-text-pw" not in stored


def test_handles_are_unique_case_insensitively(api):
    api.sign_up("grace")
    reply = api.post("/v1/accounts", {"handle": "GRACE", "display_name": "G", "password": "another-pass"})
    assert reply.status == 409 and reply.error_code == "handle_taken"
    assert UserModel.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"handle": "ab", "display_name": "x", "password": "longenough"},  # too short
        {"handle": "a" * 16, "display_name": "x", "password": "longenough"},  # too long
        {"handle": "bad-char", "display_name": "x", "password": "longenough"},
        {"handle": "okhandle", "display_name": "", "password": "longenough"},
        {"handle": "okhandle", "display_name": "x", "password": ""},  # too short: tests/security/test_accounts.py
        {"handle": "okhandle", "display_name": "x"},  # missing password
        {"handle": 12345, "display_name": "x", "password": "longenough"},  # wrong type
        {"handle": "okhandle", "display_name": "x", "password": "longenough", "admin": True},  # unknown field
        [],
    ],
)
def test_bad_sign_up_bodies_get_400_and_write_nothing(api, body):
    reply = api.post("/v1/accounts", body)
    assert reply.status == 400 and reply.error_code == "validation_error"
    assert set(reply.body["error"]) >= {"code", "message"}
    assert _count_users() == 0


def test_bad_json_gets_400(api):
    reply = api.post("/v1/accounts", raw="{not json")
    assert reply.status == 400 and reply.error_code == "validation_error"
    assert _count_users() == 0


def test_oversize_body_gets_400(api):
    reply = api.post("/v1/accounts", {"handle": "bigbody", "display_name": "x" * 40000, "password": "longenough"})
    assert reply.status == 400 and reply.error_code == "body_too_large"
    assert _count_users() == 0


def test_sign_in_with_right_password(api):
    user_id, _ = api.sign_up("linus", password="penguins-rule")
    reply = api.post("/v1/sessions", {"handle": "LINUS", "password": "penguins-rule"})
    assert reply.status == 200 and reply.body["user"]["id"] == user_id
    assert api.get("/v1/me", token=reply.body["token"]).body["id"] == user_id


def test_sign_in_failures_do_not_reveal_whether_the_handle_exists(api):
    api.sign_up("real_user", password="right-password")
    wrong_password = api.post("/v1/sessions", {"handle": "real_user", "password": "wrong-password"})
    no_such_handle = api.post("/v1/sessions", {"handle": "ghost_user", "password": "wrong-password"})
    assert wrong_password.status == no_such_handle.status == 401
    # The same answer but for the request id, which differs for every request.
    assert {**wrong_password.body["error"], "request_id": ""} == {**no_such_handle.body["error"], "request_id": ""}
    assert wrong_password.error_code == "invalid_credentials"


def test_get_user_by_id(api):
    user_id, token = api.sign_up("lookup")
    _, other = api.sign_up("viewer")
    reply = api.get(f"/v1/users/{user_id}", token=other)
    assert reply.status == 200 and reply.body["handle"] == "lookup"
    missing = api.get("/v1/users/01ARZ3NDEKTSV4RRFFQ69G5FAV", token=token)
    assert missing.status == 404 and missing.error_code == "user_not_found"
    garbage = api.get("/v1/users/not-an-id", token=token)
    assert garbage.status == 404


def test_missing_token_is_401(api):
    reply = api.get("/v1/me")
    assert reply.status == 401 and reply.error_code == "missing_token"


def test_malformed_authorization_header_is_401(api):
    _, token = api.sign_up("header")
    reply = api.get("/v1/me", headers={"Authorization": f"Token {token}"})
    assert reply.status == 401


def test_tampered_token_is_401(api):
    _, token = api.sign_up("tamper")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert api.get("/v1/me", token=forged).status == 401
    claims = jwt.decode(token, options={"verify_signature": False})
    other_key = jwt.encode(claims, "another-secret-0123456789abcdef0123", algorithm="HS256")
    assert api.get("/v1/me", token=other_key).status == 401


def test_none_algorithm_token_is_401(api):
    _, token = api.sign_up("nonealg")
    claims = jwt.decode(token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert api.get("/v1/me", token=unsigned).status == 401


def test_expired_token_is_401(api, clock, settings):
    _, token = api.sign_up("expiry")
    clock.advance(seconds=settings.token_ttl_seconds + 1)
    reply = api.get("/v1/me", token=token)
    assert reply.status == 401 and reply.error_code == "token_expired"


def test_token_still_valid_just_before_expiry(api, clock, settings):
    _, token = api.sign_up("notyet")
    clock.advance(seconds=settings.token_ttl_seconds - 5)
    assert api.get("/v1/me", token=token).status == 200


def test_can_host_follows_threshold(container, api):
    # The threshold comes from settings (PARLOR_HOST_MIN_FOLLOWERS, default 600).
    assert container.settings.host_min_followers == 600
    host_id, host_token = api.sign_up("wouldbehost")
    UserModel(user_id=host_id).update(actions=[UserModel.follower_count.set(599)])
    assert api.get("/v1/me", token=host_token).body["can_host"] is False
    UserModel(user_id=host_id).update(actions=[UserModel.follower_count.set(600)])
    assert api.get("/v1/me", token=host_token).body["can_host"] is True
