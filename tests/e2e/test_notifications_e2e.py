"""Notifications over the local stack: the clock process drains SQS into the app's handlers."""

from __future__ import annotations

import time

from tests.e2e.http import Http


def test_followers_get_the_live_notification_in_their_inbox(stack):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    people = {}
    for handle in ("n_host", "n_fan1", "n_fan2"):
        status, body = http.call("POST", "/v1/accounts", {"handle": handle, "display_name": handle, "password": "e2e-password-1"})
        assert status == 201
        people[handle] = body
    host_id = people["n_host"]["user"]["id"]
    for fan in ("n_fan1", "n_fan2"):
        assert http.call("PUT", f"/v1/me/following/{host_id}", token=people[fan]["token"])[0] == 200
    status, space = http.call("POST", "/v1/spaces", {"title": "Notify me"}, token=people["n_host"]["token"])
    assert status == 201
    deadline = time.monotonic() + 30
    kinds: list[str] = []
    while time.monotonic() < deadline:
        _, inbox = http.call("GET", "/v1/me/notifications", token=people["n_fan1"]["token"])
        kinds = [n["kind"] for n in inbox["notifications"]]
        if kinds:
            break
        time.sleep(0.5)
    assert kinds == ["space.live"]
    assert inbox["notifications"][0]["space_id"] == space["id"]
    http.call("POST", f"/v1/spaces/{space['id']}/end", token=people["n_host"]["token"])
