"""The local stack's TURN relay: with coturn installed the API is pointed at it with a secret
made for the run; without it the stack still runs, with no relay handed out."""

from __future__ import annotations

import logging

import pytest

from chalicelib.settings import Settings
from local import turn
from local.stack import Ports, components, stack_env


def test_the_stack_runs_the_relay_and_points_the_api_at_it(monkeypatch):
    monkeypatch.setattr(turn, "available", lambda: True)
    ports = Ports(turn=3999)
    env = stack_env(ports, {})
    assert env[Settings.env_name("turn_urls")] == "turn:127.0.0.1:3999?transport=udp,turn:127.0.0.1:3999?transport=tcp"
    assert len(env[Settings.env_name("turn_secret")]) >= 32
    assert stack_env(ports, {})[Settings.env_name("turn_secret")] != env[Settings.env_name("turn_secret")], "made per run"
    (relay,) = [c for c in components(ports) if c.name == "turn"]
    assert relay.argv[-2:] == ["--port", "3999"]


def test_without_coturn_the_stack_runs_without_a_relay(monkeypatch):
    monkeypatch.setattr(turn, "available", lambda: False)
    assert not stack_env(Ports(), {}).get(Settings.env_name("turn_urls")), "empty counts as unset: no relay handed out"
    assert "turn" not in [c.name for c in components(Ports())]


@pytest.mark.parametrize(("line", "level", "message"), [
    ("0: : Relay address to use: 127.0.0.1\n", logging.INFO, "Relay address to use: 127.0.0.1"),
    ("12: : ERROR: check_stun_auth: Cannot find credentials of user <1:u>\n", logging.ERROR,
     "check_stun_auth: Cannot find credentials of user <1:u>"),
    ("0: : CONFIG WARNING: allow_loopback_peers opens a possible security vulnerability.\n", logging.WARNING,
     "allow_loopback_peers opens a possible security vulnerability."),
])
def test_coturn_lines_are_logged_with_their_level(caplog, line, level, message):
    with caplog.at_level(logging.INFO, logger="local.turn"):
        turn._relog(line)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, message)]
