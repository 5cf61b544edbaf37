"""``python -m media_worker`` as a real process: it listens, reports health, writes its
heartbeat, exits when told to close or when its space has ended, refuses to start without
its space, binds its port before announcing it, and logs one JSON object per line, never a
secret."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from parlor_contract.worker import SPACE_ENDED, HeartbeatField, WorkerEnv, WorkerState
from tests.media_worker.process_support import WorkerSetup, close, wait_until_ready, worker_setup
from tests.media_worker.worker_support import SECRET, SPACE


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[WorkerSetup]:
    with worker_setup(tmp_path) as prepared:
        yield prepared


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
        close(setup.port)
        assert proc.wait(timeout=15) == 0
        assert setup.record()["state"]["S"] == "closing"
        lines = setup.log_lines()
        assert {"listening", "control"} <= {line["message"] for line in lines}
        assert all(line["service"] == "media-worker" and line["space_id"] == SPACE for line in lines[1:])
        assert SECRET not in setup.log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_worker_whose_port_is_taken_exits_without_announcing_itself(setup: WorkerSetup):
    """Another room's worker holds the port: announcing it would send this room's joins there."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", setup.port))
        taken.listen()
        assert setup.exit_status() == 1
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


def test_a_replaced_worker_that_wakes_up_leaves_its_successors_record_alone_and_stops(setup: WorkerSetup):
    """The API replaced a worker it thought dead (silent, or its hand-over failed); when it
    heartbeats again it must not put its own URL back in the space's record."""
    setup.env[WorkerEnv.WORKER_ID] = "w-old"
    setup.dynamodb.put_item(TableName=setup.table, Item={HeartbeatField.SPACE_ID: {"S": SPACE},
                                                         HeartbeatField.WORKER_ID: {"S": "w-old"}})
    proc = setup.start()
    try:
        wait_until_ready(setup, proc)
        successor = {HeartbeatField.SPACE_ID: {"S": SPACE}, HeartbeatField.WORKER_ID: {"S": "w-new"},
                     HeartbeatField.URL: {"S": "http://10.0.0.9:9000"}, HeartbeatField.STATE: {"S": WorkerState.READY}}
        setup.dynamodb.put_item(TableName=setup.table, Item=successor)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert setup.record() == successor
    assert "another worker serves this space: closing" in [line["message"] for line in setup.log_lines()]


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

