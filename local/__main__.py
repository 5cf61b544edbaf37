"""``python -m local`` (``make run``): start the whole offline stack until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time

from local import logs
from local.stack import Ports, Stack


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Parlor's offline stack")
    parser.add_argument("--seed", action="store_true", help="create demo users and follows")
    args = parser.parse_args()
    logs.configure("stack")
    log = logging.getLogger("local")

    stack = Stack(Ports.from_env(os.environ))
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack.start()
    if args.seed:
        from local.seed import seed

        seed(stack)
    log.info("Parlor is up (Ctrl-C stops everything)", extra={c.name: c.url for c in stack.components if c.url})
    try:
        while not stopping:
            if stack.failed():
                log.error("stopped because a component exited", extra={"components": stack.failed()})
                break
            time.sleep(0.5)
    finally:
        log.info("stopping…")
        stack.stop()
        log.info("stopped")


if __name__ == "__main__":
    main()
