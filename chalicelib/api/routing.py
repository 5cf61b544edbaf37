"""The edge between HTTP and the domain.

Every route is declared through a ``Router``: it authenticates the bearer token (a valid
session token of a user who still exists), validates the body against a pydantic model,
calls the handler, serializes the result and turns domain errors into
``{"error": {"code", "message"}}`` (``edge.py`` adds the request id, and CORS, to every
answer). The same declarations feed ``/openapi.json``, so the spec cannot drift from the code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.errors import (
    DomainError,
    NotFound,
    ReportNotFound,
    ResetTokenInvalid,
    SpaceNotFound,
    Unauthorized,
    UserNotFound,
    ValidationFailed,
)
from chalicelib.logs import logger

if TYPE_CHECKING:
    from chalicelib.models.users import UserModel
    from chalicelib.services.idempotency import Idempotency


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    name: str
    summary: str
    tag: str
    status: int
    auth: bool
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    raw_body: bool
    idempotent: bool = False  # takes an Idempotency-Key (chalicelib/api/idempotency_keys.py)
    public: bool = True  # in /openapi.json; False for Parlor's own callers (media workers, Stripe)
    retry_later: bool = False  # may answer 503 with Retry-After: a dependency (media, payments) is starting or down
    body_optional: bool = False  # no body at all means the body model's defaults
    # A page for people (HTML), not JSON: a refusal is answered by this instead of the JSON envelope.
    error_page: Callable[[DomainError], Response | None] | None = None


@dataclass
class Call:
    """What a handler gets: the caller, the validated body and query, the path params."""

    request: Request
    params: dict[str, str]
    user_id: str | None = None
    body: Any = None
    query: Any = None
    raw_body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    user: UserModel | None = None  # the signed-in user as authentication read them

    @property
    def me(self) -> str:
        assert self.user_id is not None, "route declared without auth"
        return self.user_id

    @property
    def source_ip(self) -> str:
        """The client's address as API Gateway saw it (``requestContext.identity.sourceIp``)."""
        identity = (self.request.context or {}).get("identity") or {}
        return str(identity.get("sourceIp") or "unknown")


Handler = Callable[[Call], Any]


class Router:
    """A Chalice blueprint whose routes share authentication, validation and errors."""

    def __init__(self, import_name: str, tag: str):
        self.blueprint = Blueprint(import_name)
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        raw_body: bool = False,
        idempotent: bool = False,
        public: bool = True,
        retry_later: bool = False,
        body_optional: bool = False,
        error_page: Callable[[DomainError], Response | None] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            spec = RouteSpec(method, path, fn.__name__, summary, self.tag, status, auth, body, query, response, raw_body,
                             idempotent, public, retry_later, body_optional, error_page)
            self.specs.append(spec)

            def view(**params: str) -> Response:
                return _dispatch(self.blueprint.current_request, spec, fn, params)

            view.__name__ = fn.__name__
            self.blueprint.route(path, methods=[method], content_types=_CONTENT_TYPES)(view)
            return fn

        return register


# Every id Parlor makes is a 26-character ULID. A path id outside 1..PATH_ID_MAX_LENGTH characters
# names nothing, so it is answered 404 before any read: DynamoDB refuses an empty key, and a key
# over 1 KB, with a ValidationException (a 500). openapi.py declares the same bounds.
PATH_ID_MAX_LENGTH = 64
_NOT_FOUND = {"space_id": SpaceNotFound, "user_id": UserNotFound, "reset_token": ResetTokenInvalid,
              "report_id": ReportNotFound}
# A path value that is not an id: device tokens (FCM's are ~160 characters) may be longer.
_PATH_MAX_LENGTH = {"device_token": 4096}


def path_max_length(name: str) -> int:
    """The longest value the path parameter ``name`` may have (the spec declares the same)."""
    return _PATH_MAX_LENGTH.get(name, PATH_ID_MAX_LENGTH)

# API Gateway passes these through; anything else is answered 415 by Chalice itself.
_CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]


def _dispatch(request: Request, spec: RouteSpec, fn: Handler, params: dict[str, str]) -> Response:
    from chalicelib.wiring import services  # the single wiring point, built on first use

    # The request id is in the log keys already (chalicelib/api/edge.py, around every answer).
    logger.append_keys(route=f"{spec.method} {spec.path}")
    try:
        container = services()
        call = Call(request=request, params=params, headers=dict(request.headers or {}))
        if spec.auth:
            call.user = container.accounts.authenticate(_bearer_token(request))
            call.user_id = call.user.user_id
        _check_path_ids(params)
        raw = _raw_body(request, container.settings.max_body_bytes)
        call.raw_body = raw
        call.query = _parse_query(request, spec.query)
        if spec.body is not None:
            call.body = spec.body() if spec.body_optional and not raw.strip() else _parse_body(raw, spec.body)
        if spec.idempotent and (key := call.headers.get("idempotency-key")) is not None:
            return _answer_once(container.idempotency, key, request, spec, fn, call)
        result = fn(call)
        if isinstance(result, Response):  # a page (HTML), made by the handler
            return result
        return _json_response(spec.status, _serialize(result))
    except DomainError as exc:
        logger.info("request refused", extra={"code": exc.code, "status": exc.status})
        page = spec.error_page(exc) if spec.error_page is not None else None
        return page if page is not None else error_response(exc)
    except Exception:  # noqa: BLE001 - the edge must never leak a stack trace
        logger.exception("unhandled error")
        return _json_response(500, {"error": {"code": "internal_error", "message": "Something went wrong on our side."}})
    finally:
        logger.remove_keys(["route"])


def _answer_once(idempotency: Idempotency, key: str, request: Request, spec: RouteSpec, fn: Handler, call: Call) -> Response:
    from chalicelib.api.idempotency_keys import answer_once

    body = _serialize(call.body) if spec.body is not None else call.raw_body.decode(errors="replace")
    status, payload, replayed = answer_once(idempotency, key, call.me, f"{spec.method} {spec.path.format(**call.params)}",
                                            body, lambda: (spec.status, _serialize(fn(call))), request.lambda_context)
    return _json_response(status, payload, {"Idempotent-Replayed": "true"} if replayed else None)


def error_response(exc: DomainError) -> Response:
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return _json_response(exc.status, {"error": {"code": exc.code, "message": exc.message}}, headers)


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(payload) if payload is not None else "",
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _serialize(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


def _bearer_token(request: Request) -> str:
    header = str(dict(request.headers or {}).get("authorization", ""))
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required.", code="missing_token")
    return token.strip()


def _check_path_ids(params: dict[str, str]) -> None:
    for name, value in params.items():
        if not 0 < len(value) <= path_max_length(name):
            raise _NOT_FOUND.get(name, NotFound)()


def _raw_body(request: Request, limit: int) -> bytes:
    body = request.raw_body or b""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    if len(raw) > limit:
        raise ValidationFailed(f"The body is larger than {limit} bytes.", code="body_too_large")
    return raw


def _parse_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        raise ValidationFailed(_describe(exc)) from exc


def _parse_query(request: Request, model: type[BaseModel] | None) -> BaseModel | None:
    """The query string as the route's model (which forbids unknown parameters, see
    ``schemas.Query``); a route without one takes no parameter at all."""
    params = dict(request.query_params or {})
    if model is None:
        if params:
            raise ValidationFailed(f"{sorted(params)[0]}: unknown query parameter")
        return None
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(_describe(exc, unknown="unknown query parameter")) from exc


def _describe(exc: ValidationError, unknown: str | None = None) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {unknown if unknown and err.get('type') == 'extra_forbidden' else err.get('msg')}")
    return "; ".join(parts)
