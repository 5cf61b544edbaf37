"""``make run`` behaves like a server: its data survives a restart (and ``FRESH`` forgets
it), a component that dies is started again while the rest keeps serving, a busy port
stops it before it starts, and its console is one line per component."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Iterator

import pytest
import requests
from websockets.sync.client import connect

from local.stack import ROOT, Ports, free_media_base, free_port
from tests.e2e.http import Http
from tests.e2e.local_run import LocalRun, port_env
from tests.waiting import wait_for

PASSWORD = "restart-pass-1"
STRIPE_KEY = {"Authorization": "Bearer sk_test_local"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    run = LocalRun(tmp_path_factory.mktemp("local-run")).wait_up()
    try:
        yield run
    finally:
        run.stop()


def test_console_is_one_line_per_component_then_quiet(running):
    up = next(i for i, line in enumerate(running.console) if "Parlor is up" in line)
    lines = running.console[:up]
    p = running.ports
    for name, where in [("moto", f"http://127.0.0.1:{p.moto}"), ("api", f"http://127.0.0.1:{p.api}"), ("clock", "running"),
                        ("stripe", f"http://127.0.0.1:{p.stripe}"), ("ws", f"ws://127.0.0.1:{p.ws}"),
                        ("web", f"http://127.0.0.1:{p.web}/")]:
        assert [line.split() for line in lines if line.split()[:1] == [name]] == [[name, where]], lines
    assert not [line for line in lines if line.startswith("{")], "no JSON on the console"
    # ... and every component's JSON log is in the run directory.
    assert {"moto.log", "api.log", "clock.log", "stripe.log", "ws.log", "web.log", "stack.log"} <= {
        f.name for f in running.run_dir.iterdir()}


def test_a_component_that_dies_is_restarted_and_the_stack_keeps_serving(running):
    http = Http(f"http://127.0.0.1:{running.ports.api}")
    clock, ws = running.component_pid("local.clock"), running.component_pid("local.ws_gateway")
    os.kill(clock, signal.SIGTERM)
    os.kill(ws, signal.SIGKILL)

    wait_for(lambda: running.said("clock   restarted") and running.said("ws      restarted"), 60, "both restarted")
    assert running.said("clock killed by SIGTERM") and running.said("ws killed by SIGKILL")
    assert running.component_pid("local.clock") != clock and running.component_pid("local.ws_gateway") != ws
    assert running.process.poll() is None, "the stack itself keeps running"
    status, body = http.call("POST", "/v1/accounts", {"handle": "after_kill", "display_name": "A", "password": PASSWORD})
    assert status == 201
    # The new gateway takes sockets (one for a space the new user hosts).
    status, space = http.call("POST", "/v1/spaces", {"title": "Still here"}, token=body["token"])
    assert status == 201, space
    status, joined = http.call("POST", f"/v1/spaces/{space['id']}/join", token=body["token"])
    if status == 503:  # the worker is starting; the realtime part does not depend on it
        status, joined = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            http.call("POST", f"/v1/spaces/{space['id']}/join", token=body["token"])), 30, "joined")
    with connect(f"{joined['realtime']['url']}/?token={joined['realtime']['token']}", open_timeout=10):
        pass
    http.call("POST", f"/v1/spaces/{space['id']}/end", token=body["token"])


def _pay_for_a_ticket(http: Http, stripe_base: str) -> dict:
    """A host with payouts, a ticketed space, a buyer who paid: all through the stand-in."""
    host = http.call("POST", "/v1/accounts", {"handle": "kept_host", "display_name": "H", "password": PASSWORD})[1]
    buyer = http.call("POST", "/v1/accounts", {"handle": "kept_buyer", "display_name": "B", "password": PASSWORD})[1]
    status, onboarding = http.call("POST", "/v1/me/payouts/onboarding", token=host["token"])
    assert status == 200
    assert requests.post(onboarding["url"], allow_redirects=False, timeout=10).status_code in (200, 303)
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"title": "Kept", "scheduled_start": start, "ticket": {"price_cents": 500, "currency": "usd", "max_tickets": 5}}
    status, space = wait_for(lambda: (lambda r: r if r[0] == 201 else None)(
        http.call("POST", "/v1/spaces", body, token=host["token"])), 30, "payouts enabled")
    status, checkout = http.call("POST", f"/v1/spaces/{space['id']}/tickets/checkout", token=buyer["token"])
    assert status == 201 and checkout["checkout_url"].startswith(stripe_base)
    assert requests.post(checkout["checkout_url"], allow_redirects=False, timeout=10).status_code in (200, 303)
    wait_for(lambda: [t for t in http.call("GET", "/v1/me/tickets", token=buyer["token"])[1]["tickets"]
                      if t["status"] == "paid"], 30, "the ticket is paid")
    return {"host": host, "buyer": buyer, "account_id": onboarding["account_id"], "space": space,
            "session_id": checkout["session_id"]}


def test_data_survives_a_restart_and_fresh_starts_empty(tmp_path):
    ports = Ports.free()
    first = LocalRun(tmp_path, ports).wait_up()
    try:
        http, stripe_base = Http(f"http://127.0.0.1:{ports.api}"), f"http://127.0.0.1:{ports.stripe}"
        kept = _pay_for_a_ticket(http, stripe_base)
    finally:
        assert first.stop() == 0

    again = LocalRun(tmp_path, ports).wait_up()
    try:
        host, buyer = kept["host"], kept["buyer"]
        # Sessions still verify (the secrets were kept), and the people are there.
        assert http.call("GET", "/v1/me", token=host["token"])[1]["handle"] == "kept_host"
        assert http.call("POST", "/v1/sessions", {"handle": "kept_buyer", "password": PASSWORD})[0] == 200
        status, space = http.call("GET", f"/v1/spaces/{kept['space']['id']}", token=buyer["token"])
        assert status == 200 and space["title"] == "Kept"
        tickets = http.call("GET", "/v1/me/tickets", token=buyer["token"])[1]["tickets"]
        assert [(t["space_id"], t["status"]) for t in tickets] == [(kept["space"]["id"], "paid")]
        # The payout account, on both sides: Parlor's record and the stand-in's account.
        status, onboarding = http.call("POST", "/v1/me/payouts/onboarding", token=host["token"])
        assert status == 200 and onboarding["account_id"] == kept["account_id"]
        account = requests.get(f"{stripe_base}/v1/accounts/{kept['account_id']}", headers=STRIPE_KEY, timeout=10).json()
        assert account["payouts_enabled"] is True
        session = requests.get(f"{stripe_base}/v1/checkout/sessions/{kept['session_id']}", headers=STRIPE_KEY, timeout=10)
        assert session.json()["payment_status"] == "paid"
        # Webhooks the API acknowledged are not sent again after the restart.
        assert not [line for line in (tmp_path / "stripe.log").read_text().splitlines()
                    if "webhook" in line and "refused" in line]
    finally:
        assert again.stop() == 0

    fresh = LocalRun(tmp_path, ports, "--fresh").wait_up()
    try:
        assert http.call("GET", "/v1/me", token=kept["host"]["token"])[0] == 401  # new secrets
        assert http.call("POST", "/v1/sessions", {"handle": "kept_host", "password": PASSWORD})[0] == 401
        assert requests.get(f"{stripe_base}/v1/accounts/{kept['account_id']}", headers=STRIPE_KEY, timeout=10).status_code == 404
    finally:
        assert fresh.stop() == 0


class _Answers200(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_busy_port_stops_it_before_it_starts_naming_the_port_and_its_variable(tmp_path):
    # Another server on the API's port, answering as a running stack would.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers200)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = Ports(api=server.server_address[1], ws=free_port(), moto=free_port(), stripe=free_port(), media_base=free_media_base())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    try:
        done = subprocess.run([sys.executable, "-m", "local", "--run-dir", str(tmp_path)], cwd=ROOT,
                              env={**env, **port_env(ports)}, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    said = done.stdout + done.stderr
    assert done.returncode != 0, said
    assert f"port {ports.api} (api) is busy" in said and "PARLOR_API_PORT" in said, said
    assert "Parlor is up" not in said
    assert not (tmp_path / "state").exists(), "nothing started, nothing written"

