"""Sign-up → sign-in → follow → counts, over real HTTP against the local stack."""

from __future__ import annotations

from tests.e2e.http import Http


def test_sign_up_sign_in_follow_and_counts(stack):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    status, ada = http.call("POST", "/v1/accounts", {"handle": "ada_e2e", "display_name": "Ada", "password": "analytical-engine"})
    assert status == 201
    status, bob = http.call("POST", "/v1/accounts", {"handle": "bob_e2e", "display_name": "Bob", "password": "builder-bob-1"})
    assert status == 201

    status, session = http.call("POST", "/v1/sessions", {"handle": "ADA_E2E", "password": "analytical-engine"})
    assert status == 200 and session["user"]["id"] == ada["user"]["id"]
    status, _ = http.call("POST", "/v1/sessions", {"handle": "ada_e2e", "password": "wrong"})
    assert status == 401

    status, followed = http.call("PUT", f"/v1/me/following/{bob['user']['id']}", token=session["token"])
    assert status == 200 and followed["user"]["follower_count"] == 1
    status, me = http.call("GET", "/v1/me", token=session["token"])
    assert status == 200 and me["following_count"] == 1
    status, followers = http.call("GET", f"/v1/users/{bob['user']['id']}/followers", token=bob["token"])
    assert status == 200 and [u["handle"] for u in followers["users"]] == ["ada_e2e"]
    assert http.call("GET", "/v1/me")[0] == 401
    assert stack.failed() == []
