"""A tiny JSON-over-HTTP client for end-to-end tests."""

from __future__ import annotations

from typing import Any

import requests


class Http:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = self.session.request(method, self.base_url + path, json=body, headers=headers, timeout=30)
        return resp.status_code, (resp.json() if resp.content else None)
