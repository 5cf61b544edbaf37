"""``GET /openapi.json``: built from the routes' own declarations and pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.api.routing import Call, Router, RouteSpec, path_max_length

router = Router(__name__, tag="meta")


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],  # request_id: the answer's X-Request-Id
                "properties": {
                    "code": {"$ref": "#/components/schemas/ErrorCode"},
                    "message": {"type": "string", "description": "For people; may change. Switch on code."},
                    "request_id": {"type": "string", "description": "Quote it when reporting a problem."},
                },
            }
        },
    }


# What any route may answer besides its success: a malformed request or a body over the size
# limit (400), a missing, expired or wrong token or credentials (401), a rule of who may do what
# (403), an unknown id (404), a state that does not allow it (409), a domain rule (422), and a
# rate limit (429: Parlor's own, or API Gateway's throttling in front of every route).
_ERRORS = {400: "Malformed request", 401: "Not signed in, or the token is not valid", 403: "Not allowed",
           404: "Not found", 409: "Conflicts with the current state", 422: "Breaks a rule of the domain",
           429: "Too many requests: retry after Retry-After seconds"}
BEARER = "bearerAuth"
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}}


def build_spec(routers: list[Router], server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of the public routes (not those only Parlor's own workers and Stripe call)."""
    from chalicelib.api import error_catalog  # imported here so `python -m chalicelib.api.error_catalog` runs cleanly

    components: dict[str, Any] = {"Error": _error_schema(), "ErrorCode": {
        "type": "string", "enum": error_catalog.codes(), "description": "See docs/ERRORS.md for what each means."}}
    paths: dict[str, Any] = {}
    operation_ids: set[str] = set()
    for spec in (s for r in routers for s in r.specs if s.public):
        op = _operation(spec, components)
        # A generated client names a function after each id: two alike would make one of them unreachable.
        if op["operationId"] in operation_ids:
            raise ValueError(f"two operations are named {op['operationId']!r}: rename one of the handlers")
        operation_ids.add(op["operationId"])
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Parlor API", "version": "1.0.0", "description": "Live audio rooms."},
        "components": {
            "schemas": components,
            "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                         "description": "The token from sign-up or sign-in."}},
        },
        "paths": paths,
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _operation(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        # <tag>_<handler>: unique (two routers may each have a "mute") and readable in a generated client.
        "operationId": f"{spec.tag}_{spec.name}",
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": path_max_length(name)}}
            for name in re.findall(r"{(\w+)}", spec.path)
        ],
        "responses": {str(spec.status): _content(spec.response, components, "OK"), **_errors(spec)},
    }
    if spec.idempotent:
        from chalicelib.api.idempotency_keys import OPENAPI_PARAMETER

        op["parameters"].append(OPENAPI_PARAMETER)
    if spec.query is not None:
        for name, fld in spec.query.model_fields.items():
            op["parameters"].append(
                {"name": name, "in": "query", "required": fld.is_required(), "schema": _field_schema(spec.query, name)}
            )
    if spec.body is not None:
        op["requestBody"] = {"required": not spec.body_optional, **_content(spec.body, components, "")}
    if spec.auth:
        op["security"] = [{BEARER: []}]
    return op


def _errors(spec: RouteSpec) -> dict[str, Any]:
    def error(description: str, retry_after: bool = False) -> dict[str, Any]:
        answer: dict[str, Any] = {"description": description,
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if retry_after:
            answer["headers"] = _RETRY_AFTER
        return answer

    responses = {str(status): error(text, retry_after=status == 429 or (status == 409 and spec.idempotent))
                 for status, text in _ERRORS.items()}
    if spec.retry_later:
        responses["503"] = error("A dependency (media worker, payments) is starting or unavailable: retry after "
                                 "Retry-After seconds (media_starting, media_unavailable, payments_unavailable)", True)
    return responses


def _content(model: type[BaseModel] | None, components: dict[str, Any], description: str) -> dict[str, Any]:
    if model is None:
        return {"description": description or "No content"}
    return {"description": description, "content": {"application/json": {"schema": _schema_ref(model, components)}}}


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, component in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
        # Two models of one name would share a component, and one of them would be described wrongly.
        if components.setdefault(name, component) != component:
            raise ValueError(f"two different schemas are named {name!r}: rename one of the models")
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _field_schema(model: type[BaseModel], name: str) -> dict[str, Any]:
    return dict(model.model_json_schema()["properties"][name])


@router.route("GET", "/openapi.json", summary="This API's OpenAPI document", auth=False)
def openapi(call: Call) -> dict[str, Any]:
    from chalicelib.api import ROUTERS
    from chalicelib.wiring import services

    return build_spec(ROUTERS, services().settings.api_url)
