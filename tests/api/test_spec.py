"""The spec is the truth: ``/openapi.json`` is a valid document whose operations, errors,
enums and times are what the API really answers (issue 16)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
from jsonschema import ValidationError
from websockets.sync.client import connect

from chalicelib.api import ROUTERS, error_catalog
from chalicelib.api.schemas import TIMESTAMP_PATTERN
from chalicelib.clock import timestamp
from tests.api.rooms_support import open_room
from tests.realtime_gateway import api_with, publishing_to, served_gateway
from tests.servers import ServedApp
from tests.sockets import next_event
from tests.spec_support import check_answer, check_component
from tests.support import Api

PUBLIC = [spec for router in ROUTERS for spec in router.specs if spec.public]
ERRORS_MD = Path(__file__).resolve().parents[2] / "docs" / "ERRORS.md"


@pytest.fixture
def doc(api: Api) -> dict:
    reply = api.get("/openapi.json")
    assert reply.status == 200
    return reply.body


def _operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_the_spec_is_valid_with_unique_readable_operation_ids(doc):
    from openapi_spec_validator import validate

    validate(doc)
    ids = Counter(op["operationId"] for _, _, op in _operations(doc))
    assert [name for name, count in ids.items() if count > 1] == []
    # The room's mute and the follow mute were both "mute"; an id is now <tag>_<handler>.
    assert {(method, path): op["operationId"] for method, path, op in _operations(doc)} == {
        (s.method, s.path): f"{s.tag}_{s.name}" for s in PUBLIC}
    assert {"rooms_mute", "social_mute_notifications", "rooms_join"} <= set(ids)


def test_internal_endpoints_are_served_but_not_in_the_public_spec(doc, api):
    assert "/v1/stripe/webhook" not in doc["paths"]
    assert not [path for path in doc["paths"] if "/internal/" in path]
    # Still served: they refuse callers without Stripe's or a worker's signature.
    assert api.post("/v1/stripe/webhook", raw=b"{}").error_code == "invalid_signature"


def test_servers_and_the_bearer_scheme_are_declared(doc, container):
    assert doc["servers"] == [{"url": container.settings.api_url}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The token from sign-up or sign-in."}
    for spec in PUBLIC:
        op = doc["paths"][spec.path][spec.method.lower()]
        assert op.get("security") == ([{"bearerAuth": []}] if spec.auth else None), spec.path


def test_every_operation_declares_the_errors_it_can_answer(doc):
    for method, path, op in _operations(doc):
        responses = op["responses"]
        for status in ("400", "401", "403", "404", "409", "422", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert "Retry-After" in responses["429"]["headers"], (method, path)
    for path in ("/v1/spaces/{space_id}/join", "/v1/spaces/{space_id}/media/offer"):
        unavailable = doc["paths"][path]["post"]["responses"]["503"]
        assert "Retry-After" in unavailable["headers"] and "media_starting" in unavailable["description"]
    assert "503" not in doc["paths"]["/v1/me"]["get"]["responses"]
    # A retry of an idempotent POST while the first one runs: 409 request_in_progress with Retry-After.
    assert "Retry-After" in doc["paths"]["/v1/spaces"]["post"]["responses"]["409"]["headers"]


def test_the_error_code_is_an_enum_of_every_code_the_api_uses(doc):
    enum = doc["components"]["schemas"]["ErrorCode"]["enum"]
    assert enum == error_catalog.codes()
    # Class codes, codes passed at a raise site, and the edge's own.
    assert {"handle_taken", "media_starting", "missing_token", "bad_offer", "body_too_large", "internal_error"} <= set(enum)
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message", "request_id"] and error["properties"]["request_id"] == {
        "type": "string", "description": "Quote it when reporting a problem."}


def test_real_errors_match_the_spec(doc, api):
    missing = api.get("/v1/me")
    check_answer(doc, "GET", "/v1/me", missing.status, missing.body)
    _, token = api.sign_up("asker")
    unknown = api.get("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV", token=token)
    assert unknown.status == 404
    check_answer(doc, "GET", "/v1/spaces/{space_id}", 404, unknown.body)
    with pytest.raises(ValidationError):  # a code the API never answers is not in the enum
        check_component(doc, "Error", {"error": {"code": "made_up", "message": "x"}})


def test_the_error_catalog_in_the_docs_is_up_to_date():
    assert ERRORS_MD.read_text() == error_catalog.render(), "run: python -m chalicelib.api.error_catalog > docs/ERRORS.md"
    assert "| `media_starting` | 503 | The media worker is starting; retry shortly. |" in ERRORS_MD.read_text()


def test_enumerated_fields_are_enums_and_free_form_objects_have_schemas(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["SpaceOut"]["properties"]["state"]["enum"] == ["scheduled", "live", "ended", "canceled"]
    assert schemas["ParticipantOut"]["properties"]["role"]["enum"] == ["host", "cohost", "speaker", "listener"]
    assert schemas["TicketOut"]["properties"]["status"]["enum"] == ["held", "paid", "expired", "refund_pending", "refunded"]
    assert "space.live" in schemas["NotificationOut"]["properties"]["kind"]["enum"]
    assert schemas["AuditEntryOut"]["properties"]["action"]["enum"] == ["set_role", "mute", "remove", "ban"]
    assert schemas["NotificationOut"]["properties"]["data"] == {"$ref": "#/components/schemas/NotificationData"}
    assert {"$ref": "#/components/schemas/AuditDetails"} in schemas["AuditEntryOut"]["properties"]["details"]["anyOf"]


def test_a_room_as_the_api_answers_it_matches_the_spec(doc, api, clock):
    clock.set(clock.now().replace(microsecond=123_456))  # so a time cut to the second would show
    room = open_room(api)
    space = api.get(f"/v1/spaces/{room.space_id}", token=room.listener.token)
    check_answer(doc, "GET", "/v1/spaces/{space_id}", 200, space.body)
    assert space.body["created_at"] == timestamp(clock.now()) and space.body["created_at"].endswith(".123Z")
    people = api.get(f"/v1/spaces/{room.space_id}/participants", token=room.listener.token)
    check_answer(doc, "GET", "/v1/spaces/{space_id}/participants", 200, people.body)
    audit = api.get(f"/v1/spaces/{room.space_id}/audit", token=room.host.token)
    check_answer(doc, "GET", "/v1/spaces/{space_id}/audit", 200, audit.body)
    role_changes = [e["details"] for e in audit.body["entries"] if e["action"] == "set_role"]
    assert {"from": "listener", "to": "cohost", "present": None} in role_changes
    message = api.post(f"/v1/spaces/{room.space_id}/messages", {"text": "hello"}, token=room.speaker.token)
    check_answer(doc, "POST", "/v1/spaces/{space_id}/messages", 201, message.body)
    assert message.body["created_at"] == timestamp(clock.now())


def test_times_are_rfc3339_utc_to_the_millisecond():
    from datetime import UTC, datetime, timedelta, timezone

    at = datetime(2026, 11, 30, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert timestamp(at) == "2026-11-30T12:00:00.123Z"
    assert timestamp(datetime(2026, 11, 30, 12, tzinfo=UTC)) == "2026-11-30T12:00:00.000Z"
    assert re.fullmatch(TIMESTAMP_PATTERN, timestamp(at) or "")


@pytest.fixture
def gateway(aws) -> Iterator[ServedApp]:
    yield from served_gateway()


@pytest.fixture
def rt(aws, clock, settings, gateway) -> Iterator[Api]:
    """The API with the real realtime publisher, pointed at the in-process gateway."""
    yield from api_with(publishing_to(settings, gateway), clock)


def test_a_websocket_event_spells_times_as_rest_does(rt, clock):
    room = open_room(rt)
    joined = rt.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).body
    with connect(f"{joined['realtime']['url']}/?token={joined['realtime']['token']}", open_timeout=10) as ws:
        clock.set(clock.now().replace(microsecond=457_000))
        rt.post(f"/v1/spaces/{room.space_id}/messages", {"text": "hi"}, token=room.speaker.token)
        event = next_event(ws, "message.created")
        assert event["at"] == event["data"]["created_at"] == timestamp(clock.now())
        assert event["at"].endswith(".457Z") and re.fullmatch(TIMESTAMP_PATTERN, event["at"])
        rt.post(f"/v1/spaces/{room.space_id}/end", token=room.host.token)
        ended = next_event(ws, "space.ended")
        assert ended["at"] == ended["data"]["ended_at"] == timestamp(clock.now())


def test_two_operations_of_one_id_cannot_make_a_spec():
    from chalicelib.api.openapi import build_spec
    from chalicelib.api.routing import Router

    first, second = Router("first", tag="rooms"), Router("second", tag="rooms")
    for router, path in ((first, "/a"), (second, "/b")):
        router.route("GET", path, summary="s")(lambda call: None)
    with pytest.raises(ValueError, match="'rooms_<lambda>'"):
        build_spec([first, second])


def test_a_path_parameter_is_declared_as_long_as_the_route_takes_it(doc):
    """A generated client validates lengths: an FCM token (~160 characters) must fit."""
    (parameter,) = doc["paths"]["/v1/me/devices/{device_token}"]["delete"]["parameters"]
    assert parameter["schema"]["maxLength"] == 4096
    joined = doc["paths"]["/v1/spaces/{space_id}/join"]["post"]["parameters"][0]
    assert joined["schema"]["maxLength"] == 64
