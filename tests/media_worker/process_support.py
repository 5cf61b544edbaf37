"""A media worker as a real process (``python -m media_worker``) against a moto server: its
environment, its log, its heartbeat record, and the calls a test makes to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from chalicelib.gateways.worker_calls import signed_post
from local.stack import free_port
from parlor_contract.media import CONTROL_PATH
from parlor_contract.worker import HeartbeatField, WorkerEnv, WorkerState
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET, SPACE


@dataclass
class WorkerSetup:
    env: dict[str, str]
    dynamodb: Any
    table: str
    port: int
    log: Path

    def start(self) -> subprocess.Popen[bytes]:
        out = self.log.open("ab")
        return subprocess.Popen([sys.executable, "-m", "media_worker"], env=self.env, stdout=out, stderr=out)

    def exit_status(self, timeout: float = 30) -> int:
        """Start the worker and wait for it to exit by itself (killed if it has not by then)."""
        proc = self.start()
        try:
            return proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()

    def log_lines(self) -> list[dict]:
        """Every line the process wrote, each of which must be a JSON object."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def record(self) -> dict:
        return self.dynamodb.get_item(TableName=self.table, Key={"space_id": {"S": SPACE}}).get("Item", {})


@contextmanager
def worker_setup(tmp_path: Path) -> Iterator[WorkerSetup]:
    """A moto server with a workers table, and the environment a worker process needs."""
    moto_port, port = free_port(), free_port()
    # moto's backends are shared by every server in this process, and a port comes free again:
    # a name of its own for each set-up.
    table = f"workers-{uuid.uuid4().hex[:12]}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                            aws_secret_access_key="x")
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "space_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "space_id", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1", WorkerEnv.SPACE_ID: SPACE, WorkerEnv.PORT: str(port),
           WorkerEnv.TOKEN_PUBLIC_KEY: PUBLIC_KEY, WorkerEnv.SERVICE_SECRET: SECRET, WorkerEnv.WORKERS_TABLE: table,
           WorkerEnv.HEARTBEAT_SECONDS: "0.5"}
    try:
        yield WorkerSetup(env, dynamodb, table, port, tmp_path / "worker.log")
    finally:
        server.stop()


def wait_until_ready(setup: WorkerSetup, proc: subprocess.Popen[bytes]) -> dict:
    deadline, item = time.monotonic() + 30, {}
    while item.get(HeartbeatField.STATE, {}).get("S") != WorkerState.READY:
        assert time.monotonic() < deadline and proc.poll() is None, "no ready heartbeat"
        time.sleep(0.2)
        item = setup.record()
    return item


def close(port: int, space_id: str = SPACE) -> None:
    """The API's close call (its own function: the space's key, a nonce)."""
    payload = {"space_id": space_id, "action": "close", "decided_at": int(time.time() * 1000)}
    assert signed_post(f"http://127.0.0.1:{port}", CONTROL_PATH, payload, SECRET, timeout=5) is None
