"""A tiny JSON-over-HTTP client for end-to-end tests, and the steps every scenario starts with."""

from __future__ import annotations

import time
from typing import Any

import boto3
import requests


class Http:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = self.session.request(method, self.base_url + path, json=body, headers=headers, timeout=30)
        return resp.status_code, (resp.json() if resp.content else None)


def sign_up(http: Http, handle: str) -> dict:
    """A new account: ``{"id", "token"}``."""
    status, body = http.call("POST", "/v1/accounts", {"handle": handle, "display_name": handle, "password": "e2e-password-1"})
    assert status == 201, body
    return {"id": body["user"]["id"], "token": body["token"]}


def join(http: Http, space_id: str, person: dict, timeout: float = 40.0) -> dict:
    """Join, retrying while the media worker starts (503 media_starting), as a client would."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = http.call("POST", f"/v1/spaces/{space_id}/join", token=person["token"])
        if status == 200:
            return body
        assert status == 503 and body["error"]["code"] == "media_starting", body
        assert time.monotonic() < deadline, "the media worker did not come up"
        time.sleep(0.1)


def live_space(http: Http, title: str, handles: tuple[str, str, str]) -> tuple[str, list[dict]]:
    """The first of three new people hosts a live space, followed by the other two (hosting
    needs two followers in the e2e stack): ``(space_id, [host, second, third])``."""
    people = [sign_up(http, handle) for handle in handles]
    host = people[0]
    for follower in people[1:]:
        assert http.call("PUT", f"/v1/me/following/{host['id']}", token=follower["token"])[0] == 200
    status, space = http.call("POST", "/v1/spaces", {"title": title}, token=host["token"])
    assert status == 201, space
    return space["id"], people


def worker_record(stack: Any, space_id: str) -> dict:
    """The space's media worker record, as the worker and the API keep it in the stack's moto."""
    dynamodb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{stack.ports.moto}", region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    table = f"{stack.env.get('PARLOR_TABLE_PREFIX', 'parlor-e2e')}-media_workers"
    return dynamodb.get_item(TableName=table, Key={"space_id": {"S": space_id}}, ConsistentRead=True)["Item"]
