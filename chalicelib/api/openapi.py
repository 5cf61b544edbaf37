"""``GET /openapi.json``: built from the routes' own declarations and pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.api.routing import PATH_ID_MAX_LENGTH, Call, Router, RouteSpec

router = Router(__name__, tag="meta")

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            # request_id: the answer's X-Request-Id (chalicelib/api/edge.py).
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": "string"}},
        }
    },
}


def build_spec(routers: list[Router]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for spec in (s for r in routers for s in r.specs):
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Parlor API", "version": "1.0.0", "description": "Live audio rooms."},
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "paths": paths,
    }


def _operation(spec: RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.name,
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": PATH_ID_MAX_LENGTH}}
            for name in re.findall(r"{(\w+)}", spec.path)
        ],
        "responses": {
            str(spec.status): _content(spec.response, components, "OK"),
            "4XX": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
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
        op["requestBody"] = {"required": True, **_content(spec.body, components, "")}
    if spec.auth:
        op["security"] = [{"bearer": []}]
    return op


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

    return build_spec(ROUTERS)
