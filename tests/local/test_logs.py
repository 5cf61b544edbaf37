"""The local stack's processes log one JSON object per line, and never a token or a key: the
WebSocket gateway's clients put their token in the query string (``/?token=...``), which an
access log prints; the Stripe stand-in is called with the API's secret key."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from chalicelib.clock import SystemClock
from chalicelib.services.tokens import RoomTokens, generate_media_keypair
from chalicelib.settings import Settings
from local import generated_secrets
from local.stack import ROOT, free_port

Process = Callable[[str], tuple[int, Path]]


def json_lines(log: Path) -> list[dict]:
    """Every line the process wrote, each of which must be a JSON object."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def access_lines(log: Path, count: int) -> list[dict]:
    """The access log's lines, once there are ``count`` of them."""
    deadline = time.monotonic() + 10
    while len(lines := [line for line in json_lines(log) if line.get("name") == "aiohttp.access"]) < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return lines


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Process]:
    """Start ``python -m <module> --port <free>`` as ``make run`` does, its output captured, with
    the secrets the local stack generates (the API refuses to run without). AWS points nowhere:
    nothing here reaches a database."""
    running: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, **Settings.environment(**generated_secrets.load_or_create(None)),
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "PARLOR_TABLE_PREFIX": "parlor-logs-test"}

    def run(module: str) -> tuple[int, Path]:
        port, log = free_port(), tmp_path / f"{module}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        running.append(proc)
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return port, log

    yield run
    for proc in running:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_gateway_never_logs_the_realtime_token(start):
    port, log = start("local.ws_gateway")
    # A real-looking realtime token (signed with a secret the API does not use, so it is refused).
    token = RoomTokens(generate_media_keypair()[0], "not-the-apis-secret-0123456789abcdef", SystemClock()).realtime(
        "space-1", "user-1", "listener")
    for path in ("/", "/dev"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{port}{path}?token={token}", open_timeout=10)
        assert refused.value.response.status_code == 401  # the handshake says why: README "Realtime"

    requests = access_lines(log, 2)
    assert token.split(".")[1] not in log.read_text()  # not the token, nor its claims
    assert [(r["message"], r["path"], r["status"]) for r in requests] == [("request", "/", 401), ("request", "/dev", 401)]
    lines = json_lines(log)
    # The app's own logger (Powertools, service "parlor") says why; the gateway's lines say it is the gateway.
    assert {line["service"] for line in lines} <= {"local-ws-gateway", "parlor"}
    assert "socket refused" in {line["message"] for line in lines if line["service"] == "parlor"}


def test_the_stripe_stand_in_never_logs_the_api_key(start):
    port, log = start("local.stripe_standin")
    key = "sk_test_0123456789abcdefSECRET"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/accounts/acct_missing?expand[]=capabilities",
                                     headers={"Authorization": f"Bearer {key}"})
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=10)
    assert missing.value.code == 404

    (line,) = access_lines(log, 1)
    assert (line["path"], line["status"], line["service"]) == ("/v1/accounts/acct_missing", 404, "local-stripe")
    assert key not in log.read_text()
