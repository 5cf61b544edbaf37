"""Accounts people expect: short access tokens with rotating refresh tokens, logout, password
change, profile, deletion and password reset (the API's production token lifetime here)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import pytest

from chalicelib.clock import iso
from chalicelib.models.follows import FollowModel
from chalicelib.models.notifications import DeviceModel
from chalicelib.models.sessions import PasswordResetModel, SessionModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import EmailModel, HandleModel, UserModel
from chalicelib.settings import Settings
from tests.api.rooms_support import make_host
from tests.conftest import TEST_SETTINGS

PASSWORD = "correct horse battery"


@pytest.fixture
def settings() -> Settings:
    """The test settings with the production access-token lifetime (15 minutes)."""
    return TEST_SETTINGS.model_copy(update={"token_ttl_seconds": Settings.model_fields["token_ttl_seconds"].default})


def sign_up(api, handle, email=None):
    body = {"handle": handle, "display_name": handle.title(), "password": PASSWORD}
    if email:
        body["email"] = email
    reply = api.post("/v1/accounts", body)
    assert reply.status == 201, reply.body
    return reply.body


def sign_in(api, handle, password=PASSWORD):
    return api.post("/v1/sessions", {"handle": handle, "password": password})


def refresh(api, refresh_token):
    return api.post("/v1/sessions/refresh", {"refresh_token": refresh_token})


# -- access and refresh tokens ---------------------------------------------------------------------


def test_access_tokens_last_15_minutes_by_default():
    assert Settings.model_fields["token_ttl_seconds"].default == 15 * 60


def test_sign_up_and_sign_in_hand_out_an_access_token_and_a_refresh_token(api, clock):
    signed_up = sign_up(api, "ada")
    signed_in = sign_in(api, "ada").body
    for grant in (signed_up, signed_in):
        assert set(grant) == {"user", "token", "refresh_token", "token_expires_at"}
        assert grant["token_expires_at"] == iso(clock.now() + timedelta(minutes=15))
        assert api.get("/v1/me", token=grant["token"]).body["handle"] == "ada"
    assert signed_up["refresh_token"] != signed_in["refresh_token"]
    assert SessionModel.count() == 2  # one session per sign-in


def test_an_expired_access_token_is_refreshed_into_a_new_pair(api, clock):
    grant = sign_up(api, "ada")
    clock.advance(seconds=15 * 60 + 1)
    assert api.get("/v1/me", token=grant["token"]).status == 401
    renewed = refresh(api, grant["refresh_token"])
    assert renewed.status == 200, renewed.body
    assert renewed.body["user"]["handle"] == "ada"
    assert renewed.body["refresh_token"] != grant["refresh_token"]
    assert renewed.body["token_expires_at"] == iso(clock.now() + timedelta(minutes=15))
    assert api.get("/v1/me", token=renewed.body["token"]).status == 200
    again = refresh(api, renewed.body["refresh_token"])  # each new one works once, too
    assert again.status == 200


def test_a_spent_refresh_token_is_refused_and_signs_the_whole_session_out(api):
    grant = sign_up(api, "ada")
    first = refresh(api, grant["refresh_token"]).body
    second = refresh(api, first["refresh_token"]).body

    reused = refresh(api, grant["refresh_token"])  # a thief replays the first one
    assert reused.status == 401 and reused.error_code == "refresh_token_reused"
    # The whole family is revoked: the newest refresh token and the access tokens too.
    latest = refresh(api, second["refresh_token"])
    assert latest.status == 401 and latest.error_code == "session_revoked"
    for token in (grant["token"], first["token"], second["token"]):
        reply = api.get("/v1/me", token=token)
        assert reply.status == 401 and reply.error_code == "session_revoked"
    # Other sessions of the same person are untouched.
    assert api.get("/v1/me", token=sign_in(api, "ada").body["token"]).status == 200


def test_two_refreshes_with_one_token_at_once_leave_one_winner_and_a_revoked_session(api):
    grant = sign_up(api, "ada")
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(lambda _: refresh(api, grant["refresh_token"]), range(2)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [200, 401] and {r.error_code for r in replies if r.status == 401} == {"refresh_token_reused"}
    winner = next(r for r in replies if r.status == 200).body
    assert api.get("/v1/me", token=winner["token"]).error_code == "session_revoked"


def test_a_forged_or_malformed_refresh_token_is_401_and_revokes_nothing(api):
    grant = sign_up(api, "ada")
    session_id, generation, _ = grant["refresh_token"].split(".")
    for forged in (f"{session_id}.{generation}.guessed", f"{session_id}.7.guessed", "nonsense", "a.b.c",
                   f"NOSUCHSESSION.{generation}.x"):
        reply = refresh(api, forged)
        assert reply.status == 401 and reply.error_code == "invalid_token", forged
    assert api.get("/v1/me", token=grant["token"]).status == 200
    assert refresh(api, grant["refresh_token"]).status == 200
    assert api.post("/v1/sessions/refresh", {}).status == 400
    assert api.post("/v1/sessions/refresh", {"refresh_token": grant["refresh_token"], "x": 1}).status == 400


def test_a_session_idle_longer_than_the_refresh_lifetime_has_ended(api, clock, settings):
    grant = sign_up(api, "ada")
    clock.advance(seconds=settings.refresh_ttl_seconds - 60)
    kept = refresh(api, grant["refresh_token"])  # refreshing moves the session's end
    assert kept.status == 200
    clock.advance(seconds=settings.refresh_ttl_seconds + 1)
    reply = refresh(api, kept.body["refresh_token"])
    assert reply.status == 401 and reply.error_code == "session_expired"


def test_an_access_token_without_a_session_is_refused(api, container):
    grant = sign_up(api, "ada")
    sessionless = container.tokens.issue(grant["user"]["id"])
    reply = api.get("/v1/me", token=sessionless)
    assert reply.status == 401 and reply.error_code == "invalid_token"


# -- logout ----------------------------------------------------------------------------------------


def test_logout_stops_the_refresh_token_and_the_access_tokens_of_that_session(api):
    grant = sign_up(api, "ada")
    other = sign_in(api, "ada").body
    refreshed = refresh(api, grant["refresh_token"]).body
    assert api.delete("/v1/sessions", token=refreshed["token"]).status == 204
    for token in (grant["token"], refreshed["token"]):
        reply = api.get("/v1/me", token=token)
        assert reply.status == 401 and reply.error_code == "session_revoked"
    assert refresh(api, refreshed["refresh_token"]).error_code == "session_revoked"
    assert api.get("/v1/me", token=other["token"]).status == 200  # the phone stays signed in
    assert api.delete("/v1/sessions", token=refreshed["token"]).status == 401  # already out
    assert api.delete("/v1/sessions").status == 401


# -- password change -------------------------------------------------------------------------------


def test_changing_the_password_signs_out_the_other_sessions_only(api):
    here = sign_up(api, "ada")
    elsewhere = sign_in(api, "ada").body
    reply = api.put("/v1/me/password", {"current_password": PASSWORD, "new_password": "a brand new secret"},
                    token=here["token"])
    assert reply.status == 204, reply.body
    assert api.get("/v1/me", token=here["token"]).status == 200
    assert refresh(api, here["refresh_token"]).status == 200
    assert api.get("/v1/me", token=elsewhere["token"]).error_code == "session_revoked"
    assert refresh(api, elsewhere["refresh_token"]).error_code == "session_revoked"
    assert sign_in(api, "ada").status == 401
    assert sign_in(api, "ada", "a brand new secret").status == 200


def test_a_wrong_current_password_or_a_weak_new_one_changes_nothing(api):
    grant = sign_up(api, "ada")
    other = sign_in(api, "ada").body
    wrong = api.put("/v1/me/password", {"current_password": "not my password", "new_password": "a brand new secret"},
                    token=grant["token"])
    assert wrong.status == 401 and wrong.error_code == "invalid_credentials"
    weak = api.put("/v1/me/password", {"current_password": PASSWORD, "new_password": "password"}, token=grant["token"])
    assert weak.status == 422 and weak.error_code == "weak_password"
    assert api.put("/v1/me/password", {"new_password": "a brand new secret"}, token=grant["token"]).status == 400
    assert api.put("/v1/me/password", {"current_password": PASSWORD, "new_password": "a brand new secret"}).status == 401
    assert sign_in(api, "ada").status == 200
    assert api.get("/v1/me", token=other["token"]).status == 200


def test_guessing_the_current_password_is_throttled_like_sign_in(api, settings):
    grant = sign_up(api, "ada")
    body = {"current_password": "not my password", "new_password": "a brand new secret"}
    statuses = [api.put("/v1/me/password", body, token=grant["token"]).status
                for _ in range(settings.sign_in_failures_per_handle + 1)]
    assert statuses == [401] * settings.sign_in_failures_per_handle + [429]


# -- profile ---------------------------------------------------------------------------------------


def test_display_name_and_bio_can_be_changed_and_bio_cleared(api):
    grant = sign_up(api, "ada")
    reply = api.patch("/v1/me", {"display_name": "Ada L.", "bio": "  Counting\nengines é  "}, token=grant["token"])
    assert reply.status == 200, reply.body
    assert (reply.body["display_name"], reply.body["bio"]) == ("Ada L.", "Counting\nengines é")
    public = api.get(f"/v1/users/{grant['user']['id']}", token=grant["token"]).body
    assert public["bio"] == "Counting\nengines é" and "email" not in public
    assert api.patch("/v1/me", {"bio": ""}, token=grant["token"]).body["bio"] is None
    assert api.patch("/v1/me", {}, token=grant["token"]).body["display_name"] == "Ada L."


@pytest.mark.parametrize("body, status, code", [
    ({"bio": "x" * 161}, 400, "validation_error"),
    ({"bio": "evil \u202e txet"}, 422, "invalid_text"),
    ({"bio": "\u200b\u200b"}, 422, "invalid_text"),
    ({"bio": None}, 400, "validation_error"),
    ({"display_name": None}, 400, "validation_error"),
    ({"display_name": "a\u200bb"}, 422, "invalid_text"),
    ({"handle": "renamed"}, 400, "validation_error"),
    ({"email": "not-an-email"}, 400, "validation_error"),
    ({"email": "two@@example.com"}, 400, "validation_error"),
])
def test_bad_profile_changes_are_refused_and_change_nothing(api, body, status, code):
    grant = sign_up(api, "ada")
    reply = api.patch("/v1/me", body, token=grant["token"])
    assert (reply.status, reply.error_code) == (status, code)
    assert api.get("/v1/me", token=grant["token"]).body == grant["user"]


def test_emails_are_optional_private_and_unique_case_insensitively(api):
    ada = sign_up(api, "ada", email="Ada@Example.com")
    assert ada["user"]["email"] == "Ada@Example.com"
    taken = api.post("/v1/accounts", {"handle": "bob", "display_name": "Bob", "password": PASSWORD,
                                      "email": "ada@example.COM"})
    assert taken.status == 409 and taken.error_code == "email_taken"
    assert HandleModel.count() == 1  # the refused sign-up claimed nothing
    bob = sign_up(api, "bob")
    assert bob["user"]["email"] is None
    assert api.patch("/v1/me", {"email": "ADA@example.com"}, token=bob["token"]).error_code == "email_taken"
    assert api.patch("/v1/me", {"email": "ada@work.example"}, token=ada["token"]).body["email"] == "ada@work.example"
    assert api.patch("/v1/me", {"email": "ada@example.com"}, token=bob["token"]).status == 200  # released
    assert api.patch("/v1/me", {"email": None}, token=bob["token"]).body["email"] is None
    assert {e.email_key for e in EmailModel.scan()} == {"ada@work.example"}
    bad = api.post("/v1/accounts", {"handle": "cy", "display_name": "Cy", "password": PASSWORD, "email": "nope"})
    assert bad.status == 400 and UserModel.count() == 2


# -- account deletion ------------------------------------------------------------------------------


def test_deleting_needs_the_password_and_a_wrong_one_deletes_nothing(api):
    grant = sign_up(api, "ada")
    wrong = api.delete("/v1/me", token=grant["token"], body={"password": "not my password"})
    assert wrong.status == 401 and wrong.error_code == "invalid_credentials"
    assert api.delete("/v1/me", token=grant["token"]).status == 400
    assert api.delete("/v1/me", body={"password": PASSWORD}).status == 401
    assert api.get("/v1/me", token=grant["token"]).status == 200


def test_deleting_an_account_removes_them_everywhere_and_corrects_every_count(api, clock):
    host = make_host(api, "leaving")
    followed = [sign_up(api, f"star{i}") for i in range(2)]
    followers = [sign_up(api, f"fan{i}") for i in range(3)]
    for star in followed:
        assert api.put(f"/v1/me/following/{star['user']['id']}", token=host.token).status == 200
    for fan in followers:
        assert api.put(f"/v1/me/following/{host.id}", token=fan["token"]).status == 200
    # Someone unrelated keeps their own follow.
    assert api.put(f"/v1/me/following/{followed[0]['user']['id']}", token=followers[0]["token"]).status == 200
    api.patch("/v1/me", {"email": "leaving@example.com", "bio": "bye"}, token=host.token)
    live = api.post("/v1/spaces", {"title": "Live now"}, token=host.token).body["id"]
    later = api.post("/v1/spaces", {"title": "Later", "scheduled_start": iso(clock.now() + timedelta(days=1))},
                     token=host.token).body["id"]
    device = api.post("/v1/me/devices", {"platform": "fcm", "token": "fcm-leaving-0123456789"}, token=host.token)
    assert device.status == 201
    refresh_token = sign_in(api, "leaving").body["refresh_token"]

    assert api.delete("/v1/me", token=host.token, body={"password": PASSWORD}).status == 204

    assert api.get("/v1/me", token=host.token).status == 401
    assert refresh(api, refresh_token).status == 401
    assert api.get(f"/v1/users/{host.id}", token=followers[1]["token"]).status == 404
    assert SpaceModel.get(live).state == "ended" and SpaceModel.get(later).state == "canceled"
    assert FollowModel.count(host.id) == 0 and FollowModel.followers.count(host.id) == 0
    counts = {u.handle: (int(u.follower_count), int(u.following_count)) for u in UserModel.scan()}
    assert counts == {"star0": (1, 0), "star1": (0, 0), "fan0": (0, 1), "fan1": (0, 0), "fan2": (0, 0)}
    assert all(not s.revoked for s in SessionModel.scan() if s.user_id != host.id)
    assert all(s.revoked for s in SessionModel.scan() if s.user_id == host.id)
    sns = boto3.client("sns", region_name="us-east-1")
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_endpoint_attributes(EndpointArn=device.body["endpoint_arn"])
    assert DeviceModel.count(host.id) == 0
    assert EmailModel.count() == 0
    # The handle and the email are free again.
    again = sign_up(api, "leaving", email="leaving@example.com")
    assert again["user"]["id"] != host.id and again["user"]["follower_count"] == 0


# -- password reset --------------------------------------------------------------------------------


def emails_to(address):
    from moto.ses.models import ses_backends

    backend = ses_backends["123456789012"]["us-east-1"]
    return [m for m in backend.sent_messages if address in m.destinations.get("ToAddresses", [])]


def reset_token_in(message) -> str:
    found = re.search(r"token=([A-Za-z0-9_-]+)", message.body)
    assert found, message.body
    return found.group(1)


def test_a_reset_request_emails_a_one_time_link_and_answers_alike_for_anyone(api, settings):
    sign_up(api, "ada", email="ada-reset@example.com")
    sign_up(api, "bob")  # no email
    for body in ({"handle": "ada"}, {"email": "ADA-reset@example.com"}, {"handle": "bob"}, {"handle": "nobody"},
                 {"email": "nobody@example.com"}):
        reply = api.post("/v1/password-resets", body)
        assert (reply.status, reply.body) == (202, None), body
    sent = emails_to("ada-reset@example.com")
    assert len(sent) == 2 and all(m.source == settings.email_sender for m in sent)
    assert sent[0].body.count(settings.password_reset_url) == 1
    assert PasswordResetModel.count() == 2
    token = reset_token_in(sent[0])
    assert all(r.token_hash != token for r in PasswordResetModel.scan())
    for body in ({}, {"handle": "ada", "email": "ada-reset@example.com"}, {"user": "ada"}):
        assert api.post("/v1/password-resets", body).status == 400


def test_a_reset_link_sets_the_password_once_and_signs_out_every_session(api):
    grant = sign_up(api, "ada", email="ada-once@example.com")
    api.post("/v1/password-resets", {"handle": "ada"})
    token = reset_token_in(emails_to("ada-once@example.com")[-1])
    weak = api.post(f"/v1/password-resets/{token}", {"new_password": "password"})
    assert weak.status == 422 and weak.error_code == "weak_password"  # the link still works after this
    assert api.post(f"/v1/password-resets/{token}", {"new_password": "a brand new secret"}).status == 204
    assert api.get("/v1/me", token=grant["token"]).error_code == "session_revoked"
    assert refresh(api, grant["refresh_token"]).error_code == "session_revoked"
    assert sign_in(api, "ada").status == 401 and sign_in(api, "ada", "a brand new secret").status == 200
    used = api.post(f"/v1/password-resets/{token}", {"new_password": "another new secret"})
    assert used.status == 404 and used.error_code == "reset_token_invalid"
    wrong = api.post("/v1/password-resets/" + "x" * 43, {"new_password": "another new secret"})
    assert wrong.status == 404 and wrong.error_code == "reset_token_invalid"


def test_an_expired_reset_link_is_refused(api, clock, settings):
    sign_up(api, "ada", email="ada-late@example.com")
    api.post("/v1/password-resets", {"email": "ada-late@example.com"})
    token = reset_token_in(emails_to("ada-late@example.com")[-1])
    clock.advance(seconds=settings.password_reset_ttl_seconds + 1)
    reply = api.post(f"/v1/password-resets/{token}", {"new_password": "a brand new secret"})
    assert reply.status == 404 and reply.error_code == "reset_token_invalid"
    assert sign_in(api, "ada").status == 200


def test_reset_requests_are_throttled_per_account_asked_about_and_per_address(api, clock):
    """Nobody floods someone's inbox with links, and a 429 says nothing of whether the account
    exists (unknown handles are counted alike)."""
    sign_up(api, "ada", email="ada-flood@example.com")
    replies = [api.post("/v1/password-resets", {"handle": "ada"}) for _ in range(5)]
    assert [r.status for r in replies] == [202, 202, 202, 429, 429]
    assert replies[3].error_code == "too_many_attempts" and int(replies[3].headers["Retry-After"]) > 0
    assert len(emails_to("ada-flood@example.com")) == 3
    assert [api.post("/v1/password-resets", {"handle": "ghost"}).status for _ in range(4)] == [202, 202, 202, 429]
    # Per source address: ten requests an hour (six counted so far; refused ones are not), then 429 for any.
    assert [api.post("/v1/password-resets", {"handle": f"who{n}"}).status for n in range(5)] == [202] * 4 + [429]
    clock.advance(hours=1)
    assert api.post("/v1/password-resets", {"handle": "ada"}).status == 202
    assert len(emails_to("ada-flood@example.com")) == 4
