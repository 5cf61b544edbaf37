"""Chalice blueprints, one per resource. ``ROUTERS`` is every route the API serves."""

from __future__ import annotations

from chalicelib.api import accounts, chat, jobs, notifications, openapi, realtime, rooms, social, spaces, ticketing
from chalicelib.api.routing import Router

ROUTERS: list[Router] = [accounts.router, social.router, spaces.router, rooms.router, chat.router, notifications.router, ticketing.router,
                          openapi.router]
BLUEPRINTS = [r.blueprint for r in ROUTERS] + [jobs.jobs, realtime.realtime]
