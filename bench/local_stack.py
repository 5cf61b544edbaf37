"""The local stack for the load benchmarks: every piece a real process (``local.stack``) on
free ports, beside a developer's own ``make run``; a small JSON client that makes the
people and spaces a load needs through the public API; and the media workers' records
(pid, URL) read from the workers table, where the launcher and the workers write them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.stack import Ports, Stack

PASSWORD = "bench-password-1"


@contextmanager
def running_stack(name: str, settings: dict[str, str]) -> Iterator[Stack]:
    """Start the stack with ``settings`` (``PARLOR_...`` variables) on free ports, its logs
    in a temporary folder, kept (and named) only if the bench failed or a component exited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"PARLOR_TABLE_PREFIX": f"parlor-{name}", **settings})
    log_dir = Path(tempfile.mkdtemp(prefix=f"parlor-{name}-"))
    stack = Stack(Ports.free(), env=env, log_dir=log_dir)
    keep = True
    try:
        with _stderr_to(log_dir / "bootstrap.log"):  # the set-up step logs a line: not a figure
            stack.start(timeout=90)
        yield stack
        keep = bool(stack.failed())
    finally:
        stack.stop()
        if keep:
            print(f"stack logs kept in {log_dir}", flush=True)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as file:
        os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class ApiError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class Api:
    """JSON over HTTP to the local REST API, for setting a load up (not for the load itself)."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            raise ApiError(exc.code, json.loads(raw) if raw else None) from None

    def sign_up(self, handle: str) -> dict[str, str]:
        reply = self.call("POST", "/v1/accounts", {"handle": handle, "display_name": handle, "password": PASSWORD})
        return {"id": reply["user"]["id"], "handle": handle, "token": reply["token"]}

    def join(self, space_id: str, token: str, timeout: float = 60.0) -> dict[str, Any]:
        """Join, retrying while the media worker starts (503 ``media_starting``), as a client does."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return dict(self.call("POST", f"/v1/spaces/{space_id}/join", token=token))
            except ApiError as exc:
                starting = exc.status == 503 and (exc.body or {}).get("error", {}).get("code") == "media_starting"
                if not starting or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


@dataclass(frozen=True)
class WorkerRecord:
    space_id: str
    pid: int | None
    url: str | None
    state: str | None


def count_in_log(stack: Stack, component: str, text: bytes) -> int:
    """How many times ``text`` is in a component's log so far."""
    assert stack.log_dir is not None
    with open(stack.log_dir / f"{component}.log", "rb") as log:
        return sum(chunk.count(text) for chunk in iter(lambda: log.read(1 << 20), b""))


def workers_launched(stack: Stack) -> int:
    """How many media workers the API's launcher has started so far (it logs each)."""
    return count_in_log(stack, "api", b'"media worker launched"')


def report_the_run(stack: Stack, spaces: int) -> int:
    """Print how many workers the API launched for ``spaces`` spaces, and any component that
    exited during the run; the bench's exit status (1 if one did)."""
    launched = workers_launched(stack)
    print(f"media workers launched: {launched} for {spaces} spaces"
          + (" (more: the API took a live worker for dead and started another)" if launched > spaces else ""))
    exited = {c.name: c.process.returncode for c in stack.components if c.process and c.process.poll() is not None}
    if exited:
        print(f"components that exited during the run (exit status): {exited}; logs in {stack.log_dir}")
        return 1
    return 0


def shared_urls(records: dict[str, WorkerRecord]) -> dict[str, list[str]]:
    """Worker URLs the table gives to more than one space (each space must have its own worker)."""
    by_url: dict[str, list[str]] = {}
    for record in records.values():
        if record.url:
            by_url.setdefault(record.url, []).append(record.space_id)
    return {url: spaces for url, spaces in by_url.items() if len(spaces) > 1}


def worker_records(stack: Stack) -> dict[str, WorkerRecord]:
    """Every media worker's record in the workers table (the heartbeat writes pid and URL)."""
    import boto3

    table = f"{stack.env['PARLOR_TABLE_PREFIX']}-media_workers"
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    records = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            pid = item.get("pid", {}).get("N")
            records[item["space_id"]["S"]] = WorkerRecord(item["space_id"]["S"], int(pid) if pid else None,
                                                          item.get("url", {}).get("S"), item.get("state", {}).get("S"))
    return records
