"""Checking real answers against ``/openapi.json``: the spec is the contract clients are
generated from, so an answer it does not describe is a bug in one of them."""

from __future__ import annotations

from typing import Any

from openapi_schema_validator import OAS31Validator


def check(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """Raises ``jsonschema.ValidationError`` unless ``instance`` is valid (formats included)."""
    OAS31Validator({**schema, "components": doc["components"]}, format_checker=OAS31Validator.FORMAT_CHECKER).validate(instance)


def check_component(doc: dict[str, Any], name: str, instance: Any) -> None:
    check(doc, {"$ref": f"#/components/schemas/{name}"}, instance)


def check_answer(doc: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """``body`` is what the spec declares for ``status`` of the operation ``method path`` (a templated path)."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which its spec does not declare"
    check(doc, responses[str(status)]["content"]["application/json"]["schema"], body)
