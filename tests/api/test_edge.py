"""The edge: every protected route refuses anonymous callers; errors have one shape;
the OpenAPI document lists every route."""

from __future__ import annotations

import re

import pytest

from chalicelib.api import ROUTERS

PUBLIC_ROUTES = {("POST", "/v1/accounts"), ("POST", "/v1/sessions"), ("GET", "/openapi.json"), ("GET", "/asyncapi.json"),
                 # a refresh token or a reset token proves who is asking; asking for a reset reveals nothing:
                 ("POST", "/v1/sessions/refresh"), ("POST", "/v1/password-resets"),
                 ("POST", "/v1/password-resets/{reset_token}"),
                 # verified by the service signature instead of a user token:
                 ("POST", "/v1/internal/spaces/{space_id}/speaking"),
                 # verified by Stripe's signature:
                 ("POST", "/v1/stripe/webhook"),
                 # discovery and sharing: the curated topic list, and a space's public page (issue 19)
                 ("GET", "/v1/topics"), ("GET", "/s/{space_id}")}
ALL_SPECS = [spec for router in ROUTERS for spec in router.specs]


def _concrete(path: str) -> str:
    return re.sub(r"{\w+}", "01ARZ3NDEKTSV4RRFFQ69G5FAV", path)


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.auth], ids=lambda s: f"{s.method} {s.path}")
def test_protected_routes_refuse_anonymous_callers(api, spec):
    reply = api.call(spec.method, _concrete(spec.path), body={})
    assert reply.status == 401, (spec.path, reply.body)
    assert reply.error_code in {"missing_token", "invalid_token"}


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.auth], ids=lambda s: f"{s.method} {s.path}")
def test_protected_routes_refuse_garbage_tokens(api, spec):
    reply = api.call(spec.method, _concrete(spec.path), body={}, token="not.a.jwt")
    assert reply.status == 401 and reply.error_code == "invalid_token"


def test_only_the_intended_routes_are_public():
    assert {(s.method, s.path) for s in ALL_SPECS if not s.auth} == PUBLIC_ROUTES


def test_openapi_is_a_valid_document_that_describes_every_route(api):
    from openapi_spec_validator import validate

    reply = api.get("/openapi.json")
    assert reply.status == 200
    doc = reply.body
    validate(doc)  # OpenAPI 3.1, with unique operation ids and resolvable references
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(s.method, s.path) for s in ALL_SPECS if s.public}
    sign_up = doc["paths"]["/v1/accounts"]["post"]
    body_schema = doc["components"]["schemas"][sign_up["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                                                .rsplit("/", 1)[1]]
    assert body_schema["properties"]["handle"]["pattern"] == r"^[A-Za-z0-9_]{3,15}$"
    assert body_schema["additionalProperties"] is False
    assert "201" in sign_up["responses"]
    assert doc["paths"]["/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    # A ticketed space's "ticket" is its terms, not a buyer's ticket (two models once shared a name).
    space = doc["components"]["schemas"]["SpaceOut"]["properties"]["ticket"]
    assert {"$ref": "#/components/schemas/TicketTermsOut"} in space["anyOf"]


def test_two_response_models_of_one_name_cannot_make_a_spec():
    from pydantic import BaseModel

    from chalicelib.api.openapi import build_spec
    from chalicelib.api.routing import Router

    first, second = Router("first", tag="t"), Router("second", tag="t")

    def declare(router: Router, model: type[BaseModel], path: str) -> None:
        router.route("GET", path, summary="s", response=model)(lambda call: None)

    declare(first, type("Thing", (BaseModel,), {"__annotations__": {"a": int}}), "/a")
    declare(second, type("Thing", (BaseModel,), {"__annotations__": {"b": str}}), "/b")
    with pytest.raises(ValueError, match="'Thing'"):
        build_spec([first, second])


# Bodies that pass validation, so the lookup of the space is what answers.
_VALID_BODIES = {"/v1/spaces/{space_id}": {"title": "x"}, "/v1/spaces/{space_id}/messages": {"text": "hi"},
                 "/v1/spaces/{space_id}/participants/{user_id}": {"role": "speaker"},
                 "/v1/spaces/{space_id}/media/offer": {"sdp": "v=0", "type": "offer"},
                 "/v1/spaces/{space_id}/pin": {"url": "https://example.com"}}


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if "{space_id}" in s.path and s.auth],
                         ids=lambda s: f"{s.method} {s.path}")
def test_every_space_route_answers_404_for_an_unknown_space(api, spec):
    me, token = api.sign_up("curious")
    if spec.path.startswith("/v1/staff/"):  # everyone else is refused (403 not_staff) before any lookup
        from chalicelib.admin import set_staff

        set_staff("curious", True, "tests")
    path = spec.path.replace("{space_id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV").replace("{user_id}", me)
    reply = api.call(spec.method, path, body=_VALID_BODIES.get(spec.path, {}) if spec.body else None, token=token)
    assert reply.status == 404 and reply.error_code == "space_not_found", (spec.path, reply.body)


def test_lambda_finds_every_socket_schedule_and_queue_handler_where_chalice_says(aws):
    """Lambda imports the module of a handler string and calls the attribute it names."""
    import importlib

    from app import app

    configs = [*app.event_sources, *app.websocket_handlers.values()]
    assert len(configs) == 12
    for config in configs:
        module_name, _, attribute = config.handler_string.rpartition(".")
        assert getattr(importlib.import_module(module_name), attribute) is app.handler_map[config.name], config.name


def test_unhandled_errors_are_500_without_a_stack_trace(api, container, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    user_id, token = api.sign_up("boom")
    monkeypatch.setattr(container.accounts, "get_user", explode)
    reply = api.get(f"/v1/users/{user_id}", token=token)
    assert reply.status == 500 and reply.error_code == "internal_error"
    assert "secret internals" not in str(reply.body) and "Traceback" not in str(reply.body)
