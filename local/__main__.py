"""``python -m local`` (``make run``): start the whole offline stack until Ctrl-C.

The console gets one line per component, then only restarts and failures; every
process's JSON log is in ``.local-run/<component>.log`` (this one's in ``stack.log``). The
data is kept in ``.local-run/state/`` from one run to the next; ``--fresh`` starts empty.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from local import logs
from local.stack import RUN_DIR, PortBusy, Ports, Stack, check_ports, components
from local.supervisor import Supervisor


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Parlor's offline stack")
    parser.add_argument("--seed", action="store_true", help="create demo users and follows")
    parser.add_argument("--fresh", action="store_true", help="forget the data of earlier runs and start empty")
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR, help="logs here, data in its state/ folder")
    args = parser.parse_args()
    state_dir = args.run_dir / "state"
    logs.configure_console("stack", args.run_dir / "stack.log")
    log = logging.getLogger(logs.CONSOLE)

    ports = Ports.from_env(os.environ)
    try:
        check_ports(ports, components(ports))  # before touching the state: another run may be using it
    except PortBusy as busy:
        log.error("Parlor not started: %s", busy)
        sys.exit(2)
    if args.fresh:
        shutil.rmtree(state_dir, ignore_errors=True)
    stack = Stack(ports, log_dir=args.run_dir, state_dir=state_dir)
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        stack.stopping = True
        stop.set()

    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal was closed
        signal.signal(stop_signal, request_stop)
    log.info("Parlor: logs in %s/, data in %s/%s", _shown(args.run_dir), _shown(state_dir), " (fresh)" if args.fresh else "")
    try:
        stack.start()
    except Exception as exc:  # noqa: BLE001 - said in one line; the component's log has the rest
        if stop.is_set():
            return
        log.error("Parlor not started: %s (logs in %s/)", exc, _shown(args.run_dir), exc_info=True)
        sys.exit(1)
    if args.seed:
        from local.seed import seed

        seed(stack)
    log.info("Parlor is up (Ctrl-C stops everything)", extra={c.name: c.url for c in stack.components if c.url})
    supervisor = Supervisor(stack)
    try:
        while not stop.wait(0.5):
            supervisor.check()
    finally:
        log.info("stopping…")
        stack.stop()
        log.info("stopped; the data is kept in %s/", _shown(state_dir))


def _shown(path: Path) -> str:
    """A path as a person typed it: relative to where they are, when it is below."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
