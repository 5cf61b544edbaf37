"""The local launcher with real ``python -m media_worker`` processes: a child that dies is
reaped and reported at once (no zombie, its port free again), and concurrent launches never
share a port: each space's URL answers for that space."""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from chalicelib.gateways.launchers import LocalProcessLauncher
from local.stack import free_media_base
from parlor_contract.worker import WorkerEnv
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET
from tests.waiting import wait_for


def defunct_children() -> list[int]:
    """Children of this process that exited and were never reaped (``<defunct>`` in ps)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state == "Z" and int(ppid) == os.getpid():
            found.append(int(entry.name))
    return found


def port_of(pid: int) -> int:
    """The port the launcher gave a child, from the child's own environment — once it has one:
    between fork and exec /proc shows the parent's (seen on a loaded machine)."""
    def port() -> int | None:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        given = [v for v in environ if v.startswith(f"{WorkerEnv.PORT}=".encode())]
        return int(given[0].split(b"=", 1)[1]) if given else None

    return wait_for(port, 10, f"the child {pid} has its environment")


def health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError):
        return None


@pytest.fixture
def launcher() -> Iterator[LocalProcessLauncher]:
    # No workers table: the workers run without heartbeats, which these tests do not need.
    env = {**os.environ, WorkerEnv.TOKEN_PUBLIC_KEY: PUBLIC_KEY, WorkerEnv.SERVICE_SECRET: SECRET}
    env.pop(WorkerEnv.WORKERS_TABLE, None)
    launched = LocalProcessLauncher(env, base_port=free_media_base(), stop_grace_seconds=0.5)
    yield launched
    for pid in [int(h) for h in launched._children]:  # noqa: SLF001 - whatever a failed test left running
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_worker_is_reaped_and_reported_at_once(launcher):
    exits: list[tuple[str, int | None, str]] = []
    reported = threading.Event()
    launcher.on_exit(lambda handle, code, reason: (exits.append((handle, code, reason)), reported.set()))
    handle = launcher.launch("01SPACEKILLED")
    port = port_of(int(handle))
    wait_for(lambda: health(port), 30, "the worker never answered")

    os.kill(int(handle), signal.SIGKILL)
    assert reported.wait(10), "the launcher never noticed the exit"
    assert exits == [(handle, -signal.SIGKILL, "killed by signal 9")]
    assert defunct_children() == []
    assert port not in launcher.ports_in_use()


def test_a_worker_that_stops_by_itself_leaves_no_zombie(launcher):
    reported = threading.Event()
    launcher.on_exit(lambda *_: reported.set())
    handle = launcher.launch("01SPACECLOSED")
    port = port_of(int(handle))
    wait_for(lambda: health(port), 30, "the worker never answered")
    launcher.terminate(handle)  # not told to close: SIGTERM after the grace period
    assert reported.wait(10)
    assert defunct_children() == []


def test_concurrent_launches_never_share_a_port_and_each_url_answers_for_its_space(launcher):
    spaces = [f"01SPACEPORT{n:02d}" for n in range(6)]
    with ThreadPoolExecutor(max_workers=len(spaces)) as threads:
        handles = list(threads.map(launcher.launch, spaces))
    ports = [port_of(int(h)) for h in handles]
    assert len(set(ports)) == len(spaces)
    for space_id, port in zip(spaces, ports, strict=True):
        answer = wait_for(lambda port=port: health(port), 60, f"no worker answers on {port}")
        assert answer["space_id"] == space_id
