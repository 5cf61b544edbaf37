"""``python -m media_worker`` as a real process: it listens, reports health, writes its
heartbeat, exits when told to close or when its space has ended, refuses to start without
its space, binds its port before announcing it, and logs one JSON object per line, never a
secret."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.stack import free_port
from parlor_contract import signatures
from parlor_contract.worker import SPACE_ENDED, HeartbeatField, WorkerEnv, WorkerState
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

    def log_lines(self) -> list[dict]:
        """Every line the process wrote, each of which must be a JSON object."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def record(self) -> dict:
        return self.dynamodb.get_item(TableName=self.table, Key={"space_id": {"S": SPACE}}).get("Item", {})


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[WorkerSetup]:
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
           "AWS_DEFAULT_REGION": "us-east-1", WorkerEnv.SPACE_ID: SPACE, WorkerEnv.PORT: str(port),
           WorkerEnv.TOKEN_PUBLIC_KEY: PUBLIC_KEY, WorkerEnv.SERVICE_SECRET: SECRET, WorkerEnv.WORKERS_TABLE: table,
           WorkerEnv.HEARTBEAT_SECONDS: "0.5"}
    try:
        yield WorkerSetup(env, dynamodb, table, port, tmp_path / "worker.log")
    finally:
        server.stop()


def test_the_worker_process_heartbeats_and_closes_on_command(setup: WorkerSetup):
    proc = setup.start()
    try:
        deadline, item = time.monotonic() + 30, {}
        while time.monotonic() < deadline and item.get(HeartbeatField.STATE, {}).get("S") != WorkerState.READY:
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
        lines = setup.log_lines()
        assert {"listening", "control"} <= {line["message"] for line in lines}
        assert all(line["service"] == "media-worker" and line["space_id"] == SPACE for line in lines[1:])
        assert SECRET not in setup.log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def wait_until_ready(setup: WorkerSetup, proc: subprocess.Popen[bytes]) -> dict:
    deadline, item = time.monotonic() + 30, {}
    while item.get(HeartbeatField.STATE, {}).get("S") != WorkerState.READY:
        assert time.monotonic() < deadline and proc.poll() is None, "no ready heartbeat"
        time.sleep(0.2)
        item = setup.record()
    return item


def close(port: int) -> None:
    body = json.dumps({"action": "close"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/control", data=body, method="POST",
                                     headers={signatures.HEADER: signatures.sign(SECRET, body)})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def test_a_worker_whose_port_is_taken_exits_without_announcing_itself(setup: WorkerSetup):
    """Another room's worker holds the port: announcing it would send this room's joins there."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", setup.port))
        taken.listen()
        proc = setup.start()
        try:
            assert proc.wait(timeout=30) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
    assert setup.record() == {}, "no heartbeat at all, let alone a ready one"
    (error,) = [line for line in setup.log_lines() if line["level"] == "ERROR"]
    assert error["message"] == "cannot listen" and error["port"] == setup.port


def test_a_worker_on_port_0_announces_the_port_it_holds(setup: WorkerSetup):
    setup.env[WorkerEnv.PORT] = "0"
    proc = setup.start()
    try:
        url = wait_until_ready(setup, proc)["url"]["S"]
        port = int(url.rsplit(":", 1)[1])
        assert url == f"http://127.0.0.1:{port}" and port != 0
        with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        close(port)
        assert proc.wait(timeout=15) == 0
        assert [line["url"] for line in setup.log_lines() if line["message"] == "listening"] == [url]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_worker_stops_when_its_space_has_ended(setup: WorkerSetup):
    setup.dynamodb.put_item(TableName=setup.table, Item={HeartbeatField.SPACE_ID: {"S": SPACE},
                                                         HeartbeatField.SPACE_STATE: {"S": SPACE_ENDED}})
    proc = setup.start()
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(("variable", "value", "says"), [
    (WorkerEnv.SPACE_ID, None, "PARLOR_SPACE_ID (or --space-id) is required"),
    (WorkerEnv.PORT, "ninety", "PARLOR_MEDIA_PORT: Input should be a valid integer"),
])
def test_the_worker_refuses_to_start_on_a_missing_or_malformed_setting(setup: WorkerSetup, variable, value, says):
    setup.env.pop(variable, None)
    if value is not None:
        setup.env[variable] = value
    proc = setup.start()
    assert proc.wait(timeout=30) == 2
    (line,) = setup.log_lines()
    assert line["level"] == "ERROR" and says in line["error"]

