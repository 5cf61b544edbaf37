"""The local WebSocket gateway served in-process, and the API publishing to it for real: what
the realtime tests of several modules start with."""

from __future__ import annotations

from typing import Any, Iterator

from chalice.test import Client

from chalicelib.settings import Settings
from chalicelib.wiring import build_services, use_services
from local.ws_gateway import create_app
from tests.conftest import FAST_HASHER, _empty_tables
from tests.fakes import RecordingMedia
from tests.servers import ServedApp
from tests.support import Api


def served_gateway(*middlewares: Any) -> Iterator[ServedApp]:
    """The local gateway for the app, on a free port, with extra aiohttp middlewares."""
    from app import app

    gateway_app = create_app(app)
    gateway_app.middlewares.extend(middlewares)
    served = ServedApp(gateway_app)
    yield served
    served.stop()


def publishing_to(settings: Settings, gateway: ServedApp) -> Settings:
    """``settings`` with the real realtime publisher pointed at ``gateway``."""
    return settings.model_copy(update=dict(ws_management_url=f"{gateway.url}/dev", realtime_url=f"ws://127.0.0.1:{gateway.port}"))


def api_with(settings: Settings, clock: Any) -> Iterator[Api]:
    """The API built with ``settings`` (media recorded), through Chalice's test client."""
    from app import app

    use_services(build_services(settings, clock=clock, hasher=FAST_HASHER, media=RecordingMedia()))
    with Client(app) as client:
        yield Api(client)
    use_services(None)
    _empty_tables()
