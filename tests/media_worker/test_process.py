"""``python -m media_worker`` as a real process: it listens, reports health, writes its
heartbeat, and exits when told to close or when its space has ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib import signatures
from local.stack import free_port
from tests.media_worker.test_worker import PUBLIC_KEY, SECRET, SPACE


@dataclass
class WorkerSetup:
    env: dict[str, str]
    dynamodb: Any
    table: str
    port: int

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "media_worker"], env=self.env, stderr=subprocess.DEVNULL)

    def record(self) -> dict:
        return self.dynamodb.get_item(TableName=self.table, Key={"space_id": {"S": SPACE}}).get("Item", {})


@pytest.fixture
def setup() -> Iterator[WorkerSetup]:
    """A moto server with a workers table, and the environment a worker process needs."""
    moto_port, port = free_port(), free_port()
    table = f"workers-{port}"  # moto's backends are shared by every server in this process
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                            aws_secret_access_key="x")
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "space_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "space_id", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1", "PARLOR_SPACE_ID": SPACE, "PARLOR_MEDIA_PORT": str(port),
           "PARLOR_MEDIA_TOKEN_PUBLIC_KEY": PUBLIC_KEY, "PARLOR_SERVICE_SECRET": SECRET, "PARLOR_WORKERS_TABLE": table,
           "PARLOR_HEARTBEAT_SECONDS": "0.5"}
    try:
        yield WorkerSetup(env, dynamodb, table, port)
    finally:
        server.stop()


def test_the_worker_process_heartbeats_and_closes_on_command(setup: WorkerSetup):
    proc = setup.start()
    try:
        deadline, item = time.monotonic() + 30, {}
        while time.monotonic() < deadline and item.get("state", {}).get("S") != "ready":
            time.sleep(0.2)
            item = setup.record()
        assert item["url"]["S"] == f"http://127.0.0.1:{setup.port}" and int(item["pid"]["N"]) == proc.pid
        with urllib.request.urlopen(f"http://127.0.0.1:{setup.port}/health", timeout=5) as resp:
            assert json.loads(resp.read())["space_id"] == SPACE
        body = json.dumps({"action": "close"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{setup.port}/control", data=body, method="POST",
                                         headers={signatures.HEADER: signatures.sign(SECRET, body)})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
        assert proc.wait(timeout=15) == 0
        assert setup.record()["state"]["S"] == "closing"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_worker_stops_when_its_space_has_ended(setup: WorkerSetup):
    setup.dynamodb.put_item(TableName=setup.table, Item={"space_id": {"S": SPACE}, "space_state": {"S": "ended"}})
    proc = setup.start()
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
