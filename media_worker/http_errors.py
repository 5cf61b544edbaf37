"""Errors from a worker's HTTP face, always in the API's envelope
``{"error": {"code", "message"}}``: the worker's own refusals, aiohttp's (404, 405, 413...)
and anything unexpected — never text/plain."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("media_worker")


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def errors_as_json(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413...) and any unexpected one in the envelope, never text/plain."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("request failed", extra={"method": request.method, "path": request.path})
        return error_response(500, "internal_error", "The media worker could not handle this request.")
