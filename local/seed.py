"""Demo data for ``make run SEED=1``: a few people who follow each other, made through
the public API like a client would."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from local.stack import Stack

log = logging.getLogger(__name__)
PASSWORD = "parlor-demo-pass"
PEOPLE = [("ada", "Ada Lovelace"), ("bob", "Bob Builder"), ("cleo", "Cleo Patra"), ("dan", "Dan Brown")]


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def seed(stack: Stack) -> None:
    base = f"http://127.0.0.1:{stack.ports.api}"
    people: dict[str, tuple[str, str]] = {}
    for handle, name in PEOPLE:
        try:
            reply = _call(base, "POST", "/v1/accounts", {"handle": handle, "display_name": name, "password": PASSWORD})
        except urllib.error.HTTPError:
            reply = _call(base, "POST", "/v1/sessions", {"handle": handle, "password": PASSWORD})
        people[handle] = (reply["user"]["id"], reply["token"])
    for follower, (_, token) in people.items():
        for followee, (followee_id, _) in people.items():
            if follower != followee:
                _call(base, "PUT", f"/v1/me/following/{followee_id}", token=token)
    # The demo password is public (above): printed so a developer can sign in; no session token is logged.
    log.info("seeded demo people; everyone follows everyone", extra={"handles": list(people), "password": PASSWORD})
