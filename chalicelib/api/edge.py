"""What every HTTP answer gets, whoever made it: a route (``routing.Router``) or Chalice itself
(a method a route lacks: 405, a content type it does not take: 415, a crash: 500).

- A request id: API Gateway's (``requestContext.requestId``; locally the id ``chalice local``
  gives its Lambda context), in the ``X-Request-Id`` header, in the body of an error and in
  every log line of the request, so a client's report finds the logs.
- One error shape: ``{"error": {"code", "message", "request_id"}}``; Chalice's own
  ``{"Code", "Message"}`` answers are rewritten into it.
- CORS for the origins in ``PARLOR_CORS_ORIGINS``: the request's ``Origin`` is echoed when it
  is allowed (a list of origins cannot be one static header), on every answer, errors
  included (a browser hides an error it may not read). Every path answers ``OPTIONS``
  (preflight) with the methods it takes. A disallowed origin gets no CORS headers.

API Gateway answers some requests without calling the API (an unknown path or method, a
body it refuses): its Gateway Responses (infra/parlor_stack.py) use the same envelope; the
local server does the same for unknown paths (local/api.py, with ``route_not_found``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    RateLimited,
    RouteNotFound,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.logs import logger

REQUEST_ID_HEADER = "X-Request-Id"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
EXPOSED_HEADERS = "X-Request-Id, Retry-After, Idempotent-Replayed"
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer

# The error an answer of this status is, when it did not come in the envelope (Chalice's own).
_BY_STATUS: dict[int, type[DomainError]] = {
    400: ValidationFailed, 401: Unauthorized, 403: Forbidden, 404: RouteNotFound, 405: MethodNotAllowed,
    409: Conflict, 415: UnsupportedMediaType, 429: RateLimited, 500: InternalError, 503: Unavailable,
}


def register(app: Chalice) -> None:
    """Give every path an OPTIONS route (API Gateway calls the API only for declared methods,
    so a preflight needs one) and pass every answer through the edge."""
    for path, methods in list(app.routes.items()):
        if "OPTIONS" not in methods:
            app.route(path, methods=["OPTIONS"], name=f"preflight{path.replace('/', '_')}")(_preflight)

    def edge(request: Request, get_response: Callable[[Request], Response]) -> Response:
        return _answer(app, request, get_response)

    app.register_middleware(edge, "http")


def _preflight(**params: str) -> Response:
    return Response(body="", status_code=204, headers={})


def _answer(app: Chalice, request: Request, get_response: Callable[[Request], Response]) -> Response:
    request_id = request_id_of(request)
    logger.append_keys(request_id=request_id)
    try:
        try:
            response = get_response(request)
        except Exception:  # noqa: BLE001 - never a stack trace to a client
            logger.exception("unhandled error")
            response = Response(body="", status_code=500)
        # An error page for people (the share page's 404) stays HTML; everything else is the envelope.
        is_page = str(response.headers.get("Content-Type", "")).startswith("text/html")
        if response.status_code >= 400 and not is_page:
            response.body = json.dumps(envelope(response.status_code, response.body, request_id))
            response.headers["Content-Type"] = "application/json"
        methods = None
        if request.method == "OPTIONS":
            path = str((request.context or {}).get("resourcePath", ""))
            methods = sorted(app.routes[path]) if path in app.routes else []
        origin = request.headers.get("origin") if request.headers is not None else None
        response.headers.update(edge_headers(request_id, origin, methods))
        return response
    finally:
        logger.remove_keys(["request_id"])


def request_id_of(request: Request) -> str:
    """API Gateway's id of this request; ``chalice local`` has none, but gives its Lambda context one."""
    request_id = (request.context or {}).get("requestId") or getattr(request.lambda_context, "aws_request_id", None)
    return str(request_id or uuid.uuid4())


def envelope(status: int, body: Any, request_id: str) -> dict[str, Any]:
    """An error answer in the one shape, whatever shape it came in."""
    parsed = body
    if isinstance(body, (str, bytes)):
        try:
            parsed = json.loads(body or "null")
        except ValueError:
            parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error = dict(parsed["error"])
    else:
        kind = _BY_STATUS.get(status, InternalError if status >= 500 else ValidationFailed)
        message = parsed.get("Message") if isinstance(parsed, dict) else None  # Chalice's own answers
        # A 500's message is ours, never an exception's text.
        error = {"code": kind.code, "message": message if isinstance(message, str) and status < 500 else kind.default_message}
    error["request_id"] = request_id
    return {"error": error}


def edge_headers(request_id: str, origin: str | None, preflight_methods: list[str] | None = None) -> dict[str, str]:
    """The request id, and the CORS headers for ``origin`` (the methods too, for a preflight)."""
    headers = {REQUEST_ID_HEADER: request_id, "Vary": "Origin"}
    if origin and _allowed(origin):
        headers.update({"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS})
        if preflight_methods is not None:
            headers.update({"Access-Control-Allow-Methods": ", ".join(preflight_methods),
                            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE)})
    return headers


def _allowed(origin: str) -> bool:
    from chalicelib.wiring import services

    try:
        allowed = services().settings.cors_origins
    except Exception:  # noqa: BLE001 - an API that cannot build its services allows no origin
        logger.exception("settings unavailable for CORS")
        return False
    return origin in allowed or "*" in allowed
