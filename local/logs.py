"""Logs of the offline stack: each process writes one JSON object per line, from every logger
in it (aiohttp's, werkzeug's and the app's own too) — Powertools' formatter, as the API's
Lambdas use, on the root handler. ``service`` says which process wrote the line."""

from __future__ import annotations

import json
import logging
import sys
from collections import deque
from pathlib import Path

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# The logger of the lines ``make run`` shows a person.
CONSOLE = "local.console"


def configure(service: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service=f"local-{service}", name="%(name)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def configure_console(service: str, log_file: Path) -> None:
    """The stack's own process: JSON to ``log_file`` like every process, and the lines meant
    for a person (the ``CONSOLE`` logger's: one per component, restarts, failures) also on
    the console, as plain text."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(log_file)
    to_file.setFormatter(LambdaPowertoolsFormatter(service=f"local-{service}", name="%(name)s"))
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(OneLine())
    console.addFilter(logging.Filter(CONSOLE))
    logging.basicConfig(level=logging.INFO, handlers=[to_file, console], force=True)


class OneLine(logging.Formatter):
    """The message alone: tracebacks and fields are in the JSON log."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class AccessLog(AbstractAccessLogger):
    """aiohttp's access log as fields, and without the query string: a WebSocket client puts
    its realtime token there (``/?token=...``), and no log line may carry a token."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info("request", extra={"method": request.method, "path": request.path, "status": response.status,
                                           "seconds": round(time, 4), "remote": request.remote})


def log_tail(path: Path, lines: int = 10) -> list[str]:
    try:
        with open(path, errors="replace") as log_file:
            return [line.rstrip("\n") for line in deque(log_file, maxlen=lines) if line.strip()]
    except FileNotFoundError:
        return []


def last_words(tail: list[str]) -> str:
    """The last logged message, readable: a JSON line's message (and its exception's last
    line), or the raw line of a process that died before it could log JSON."""
    if not tail:
        return ""
    # A warning or an error says more than the chatter after it; a line that is not JSON is a crash's.
    telling = [line for line in tail if not line.startswith("{") or '"level":"WARNING"' in line or '"level":"ERROR"' in line
               or '"level":"CRITICAL"' in line]
    line = (telling or tail)[-1]
    try:
        entry = json.loads(line)
    except ValueError:
        return line.strip()[:300]
    if not isinstance(entry, dict):
        return line.strip()[:300]
    message = str(entry.get("message", ""))
    exception = str(entry.get("exception") or "").strip().splitlines()
    return (f"{message} ({exception[-1]})" if exception else message)[:300]
