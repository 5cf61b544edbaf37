"""The supervisor, over real processes: one that dies is started again with its reason
said; one that cannot start is retried a bounded number of times, then left alone."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from local.logs import CONSOLE, last_words
from local.stack import Component, Ports, Stack
from local.supervisor import Supervisor

# Logs an error and exits 3 the first time; runs on after that.
FLAKY = """import json, pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.touch()
    print(json.dumps({"level": "ERROR", "message": "lost the database"}), flush=True)
    sys.exit(3)
time.sleep(120)
"""
# Dies at every start, before it could log JSON; counts its starts.
BROKEN = """import sys
with open(sys.argv[1], "a") as starts:
    starts.write("start\\n")
raise SystemExit("bad setting PARLOR_NOPE")
"""


def _stack(tmp_path: Path) -> Stack:
    stack = Stack(Ports.free(), env={}, log_dir=tmp_path)
    stack.components = [Component("flaky", [sys.executable, "-c", FLAKY, str(tmp_path / "flaky-ran")]),
                        Component("broken", [sys.executable, "-c", BROKEN, str(tmp_path / "broken-starts")])]
    return stack


def test_a_dead_component_is_restarted_and_one_that_cannot_start_stops_being_retried(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=CONSOLE)
    stack = _stack(tmp_path)
    stack.start()
    try:
        supervisor = Supervisor(stack, first_delay=0.05, max_delay=0.2, stable_after=30, max_quick_failures=3)
        deadline = time.monotonic() + 30
        while not any("not restarting it" in r.getMessage() for r in caplog.records) or \
                not any("flaky   restarted" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            supervisor.check()
            time.sleep(0.02)
        for _ in range(20):  # given up: more checks start nothing
            supervisor.check()
            time.sleep(0.02)

        said = [r.getMessage() for r in caplog.records]
        assert "flaky exit code 3; it last logged: lost the database. Restarting it in 0 s" in said
        assert stack.components[0].process is not None and stack.components[0].process.poll() is None, "flaky runs again"
        assert sum("broken exit code 1; it last logged: bad setting PARLOR_NOPE. Restarting" in s for s in said) == 3
        assert any(s.startswith("broken exit code 1; it last logged: bad setting PARLOR_NOPE. It failed 3 times in a row")
                   for s in said)
        assert (tmp_path / "broken-starts").read_text().count("start") == 4, "the first start and three retries"
    finally:
        stack.stop()


def test_last_words_prefer_a_warning_or_a_crash_over_chatter():
    assert last_words(['{"level":"ERROR","message":"queue handler failed","exception":"Traceback…\\nKeyError: \'x\'"}',
                       '{"level":"INFO","message":"Found credentials"}']) == "queue handler failed (KeyError: 'x')"
    assert last_words(['{"level":"INFO","message":"serving"}', "Traceback (most recent call last):", "OSError: [Errno 98]"]) \
        == "OSError: [Errno 98]"
    assert last_words(['{"level":"INFO","message":"serving"}']) == "serving"
    assert last_words([]) == ""
