"""Serving an aiohttp application, or the Chalice app over HTTP, from a thread, for tests
whose own code is synchronous (the Chalice test client, requests, websockets' sync client)."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

from aiohttp import web
from chalice import Chalice
from chalice.config import Config
from chalice.local import create_local_server


class ServedApp:
    """The app on a free (or the given) loopback port, on its own event loop in a daemon thread."""

    def __init__(self, app: web.Application, port: int = 0, **runner_options: Any):
        self.app = app
        self.port = port  # 0: any free one
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, **runner_options)
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        if not ready.wait(10):
            raise TimeoutError("the app did not start serving within 10 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


class ServedChalice:
    """A Chalice app behind ``chalice local``'s own HTTP server (the one ``make run`` serves,
    see local/api.py) on a free loopback port, in daemon threads of this process, so the
    in-process moto and the test's services container answer its requests."""

    def __init__(self, app: Chalice):
        from local.api import JsonRequestHandler

        self._app = app
        self._original_class = app.__class__
        config = Config()
        # The local server swaps the app's class for one that keeps the current request per thread.
        self._server = create_local_server(app, config, "127.0.0.1", 0)
        self._server.server.RequestHandlerClass = functools.partial(JsonRequestHandler, app_object=app, config=config)
        self.port = self._server.server.server_address[1]
        threading.Thread(target=self._server.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.server.shutdown()
        self._server.server.server_close()
        self._app.__class__ = self._original_class
