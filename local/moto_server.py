"""moto's server, with each request made atomic as on DynamoDB.

moto's backends are not thread-safe (a TransactWriteItems deep-copies tables while
other threads write), and the local API, gateway and workers call it concurrently.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any, Callable, Iterable

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from local import logs


class SerializedApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            # Drain the response inside the lock: moto builds bodies lazily.
            return list(self._app(environ, start_response))


def main() -> None:
    parser = argparse.ArgumentParser(description="moto server for the Parlor local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    args = parser.parse_args()
    logs.configure("moto")  # werkzeug's request lines too
    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
