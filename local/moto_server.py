"""moto's server, with each request made atomic as on DynamoDB, and its state kept on disk.

moto's backends are not thread-safe (a TransactWriteItems deep-copies tables while
other threads write), and the local API, gateway and workers call it concurrently.

With ``--state FILE`` the server saves what it holds (``local.moto_state``) to FILE when it
stops and, while it runs, every second something changed (less often with much data);
``POST /_parlor/state/restore`` (called by the stack once the tables and queues exist)
loads it back. Nothing is saved
before that call: a server that has not restored yet must not overwrite the last state.
Until then only ``local.bootstrap`` (known by its access key) is served; other callers wait,
so that none reads the empty tables of a restarted server or writes what the restore
would overwrite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from local import logs

log = logging.getLogger("local.moto")
RESTORE_PATH = "/_parlor/state/restore"
BOOTSTRAP_ACCESS_KEY = "parlor-bootstrap"
# Calls that change nothing worth saving: the clock polls SQS several times a second.
_READS = ("GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "ReceiveMessage", "GetQueueUrl",
          "GetQueueAttributes", "ListQueues")


def _unsaved_service(environ: dict[str, Any]) -> bool:
    """S3 (the media bucket, read by local.cdn, written by workers): not in the saved state
    (local.moto_state), so its calls never make a save due."""
    return "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", "")


class SerializedApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self._app = app
        self.lock = threading.Lock()
        self.changed = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            if not environ.get("PATH_INFO", "").startswith("/moto-api") and \
                    not environ.get("HTTP_X_AMZ_TARGET", "").endswith(_READS) and not _unsaved_service(environ):
                self.changed = True
            # Drain the response inside the lock: moto builds bodies lazily.
            return list(self._app(environ, start_response))


class StateFile:
    """Saves moto's state to ``path`` (atomically: a crash mid-write keeps the previous one)."""

    def __init__(self, app: SerializedApp, path: Path, interval: float = 1.0):
        self._app, self.path, self._interval = app, path, interval
        self.restored = threading.Event()
        self._stop = threading.Event()
        self._written = ""
        self.locked_for = 0.0

    def restore(self, skip_tables: frozenset[str]) -> dict[str, int]:
        from local import moto_state

        with self._app.lock:
            if self.restored.is_set():
                return {}  # once per process: a second call would duplicate every message
            counts = moto_state.restore(json.loads(self.path.read_text()), skip_tables) if self.path.exists() else {}
            self.restored.set()
        log.info("restored", extra={"state": str(self.path), **counts})
        return counts

    def save(self) -> None:
        from local import moto_state

        if not self.restored.is_set():
            return
        began = time.monotonic()
        with self._app.lock:
            state = moto_state.snapshot()  # copies: it can be written out after the lock is released
            self._app.changed = False
        self.locked_for = time.monotonic() - began
        text = moto_state.dumps(state)
        if text != self._written:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.path)
            self._written = text

    def run(self) -> None:
        # Each save holds up every request while it copies (~0.1 ms an item): with much data,
        # save less often, so that saving never takes more than a twentieth of the server's time.
        while not self._stop.wait(max(self._interval, 20 * self.locked_for)):
            if self._app.changed:
                try:
                    self.save()
                except Exception:  # noqa: BLE001 - the next change tries again; the server keeps serving
                    log.exception("could not save the local state")

    def stop(self) -> None:
        self._stop.set()


class StateRoutes:
    """``POST /_parlor/state/restore`` ``{"skip_tables": [...]}``; everything else goes to moto."""

    def __init__(self, app: SerializedApp, state: StateFile | None):
        self._app, self._state = app, state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != RESTORE_PATH:
            if self._state is not None and not path.startswith("/moto-api") and \
                    f"Credential={BOOTSTRAP_ACCESS_KEY}/" not in environ.get("HTTP_AUTHORIZATION", ""):
                self._state.restored.wait(timeout=120)
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        try:
            counts = self._state.restore(frozenset(request.get("skip_tables", []))) if self._state else {}
        except Exception as exc:  # noqa: BLE001 - said to the stack, which says it to the person; nothing is saved over it
            log.exception("could not restore", extra={"state": str(self._state.path) if self._state else None})
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [f"{type(exc).__name__}: {exc} (in {self._state.path if self._state else '?'}; "
                    "make run FRESH=1 starts empty)".encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(counts).encode()]


def _stop_on_sigterm() -> None:
    def stop(*_: object) -> None:
        raise KeyboardInterrupt  # werkzeug's server closes on it, and the state is saved below

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    # Imported here: the stack imports this module (RESTORE_PATH) and has no use for moto's seconds of imports.
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="moto server for the Parlor local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--state", type=Path, help="keep the state in this file (restored on request)")
    parser.add_argument("--save-every", type=float, default=1.0, help="seconds between saves while things change")
    args = parser.parse_args()
    logs.configure("moto")  # werkzeug's request lines too
    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    state = StateFile(app, args.state, args.save_every) if args.state else None
    if state is not None:
        args.state.parent.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=state.run, name="save-state", daemon=True).start()
    _stop_on_sigterm()
    try:
        run_simple(args.host, args.port, StateRoutes(app, state), threaded=True, request_handler=MotoRequestHandler)
    finally:
        if state is not None:
            state.stop()
            state.save()
            log.info("saved", extra={"state": str(args.state)})


if __name__ == "__main__":
    main()
