"""Helpers for driving the API through Chalice's test client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalice.test import Client


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error_code(self) -> str | None:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


class Api:
    """A thin JSON client over ``chalice.test.Client``."""

    def __init__(self, client: Client):
        self.client = client

    def call(self, method: str, path: str, body: Any = None, token: str | None = None, raw: bytes | str | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body) if body is not None else b"")
        resp = getattr(self.client.http, method.lower())(path, headers=hdrs, body=payload)
        try:
            parsed = json.loads(resp.body) if resp.body else None
        except ValueError:
            parsed = resp.body
        return Reply(resp.status_code, parsed, dict(resp.headers))

    def get(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return self.call("GET", path, token=token, **kw)

    def post(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, token, **kw)

    def put(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Reply:
        return self.call("PUT", path, body, token, **kw)

    def patch(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, body, token, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return self.call("DELETE", path, token=token, **kw)

    def sign_up(self, handle: str, password: str = "correct horse battery", display_name: str | None = None) -> tuple[str, str]:
        """Create an account; returns (user_id, token)."""
        body = {"handle": handle, "display_name": display_name or handle.title(), "password": password}
        reply = self.post("/v1/accounts", body)
        assert reply.status == 201, reply.body
        return reply.body["user"]["id"], reply.body["token"]
