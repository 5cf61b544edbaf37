"""The Chalice app: one blueprint per resource (``ROUTERS`` is every route the API
serves), plus the socket, schedule and queue handlers, registered by ``create_app``."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import (
    accounts,
    asyncapi,
    audience,
    chat,
    discovery,
    internal,
    jobs,
    media_tasks,
    notifications,
    openapi,
    realtime,
    reports,
    rooms,
    share,
    social,
    spaces,
    staff,
    ticketing,
)
from chalicelib.api.edge import register as register_edge
from chalicelib.api.routing import Router
from chalicelib.settings import Settings

ROUTERS: list[Router] = [accounts.router, social.router, spaces.router, rooms.router, audience.router, chat.router, notifications.router,
                         ticketing.router, reports.router, staff.router, internal.router, openapi.router, asyncapi.router,
                         discovery.router, share.router]


def create_app(settings: Settings) -> Chalice:
    """The app for a deployment's settings (they name its queues).

    The blueprints are module-level and serve the app they were last registered on, so a
    process builds one app: ``app.py``'s.
    """
    app = Chalice(app_name="parlor")
    for router in ROUTERS:
        app.register_blueprint(router.blueprint)
    register_edge(app)  # after every route: it gives each path its preflight
    realtime.register(app, settings)
    jobs.register(app, settings)
    media_tasks.register(app, settings)
    return app
