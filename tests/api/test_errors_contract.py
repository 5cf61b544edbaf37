"""One error shape, everywhere: ``{"error": {"code", "message", "request_id"}}`` from the app's
routes and from the framework alike (an unknown path, a method or content type a route does not
take), with the request id in the ``X-Request-Id`` header of every answer and in the log lines
of its request; an expired session token is ``token_expired``, a malformed or forged one
``invalid_token``."""

from __future__ import annotations

import json
import logging
from typing import Iterator

import jwt
import pytest
import requests

from chalicelib.logs import logger
from tests.servers import ServedChalice
from tests.support import Api, Reply


def _assert_envelope(reply: Reply, status: int, code: str) -> str:
    assert reply.status == status, reply
    assert set(reply.body) == {"error"}, reply.body
    assert set(reply.body["error"]) == {"code", "message", "request_id"}, reply.body
    assert reply.body["error"]["code"] == code, reply.body
    assert reply.body["error"]["message"]
    request_id = reply.headers.get("x-request-id") or reply.headers.get("X-Request-Id")
    assert request_id and reply.body["error"]["request_id"] == request_id, (reply.headers, reply.body)
    return request_id


@pytest.fixture
def served(container) -> Iterator[ServedChalice]:
    """The API behind ``chalice local``'s server (local/api.py), as ``make run`` serves it."""
    from app import app

    server = ServedChalice(app)
    yield server
    server.stop()


def _http(method: str, url: str, **kw) -> Reply:
    reply = requests.request(method, url, timeout=10, **kw)
    return Reply(reply.status_code, reply.json() if reply.content else None, dict(reply.headers))


# -- the framework's own answers --------------------------------------------------------------


def test_an_unknown_route_is_404_in_the_envelope_and_never_echoes_the_token(served):
    reply = _http("GET", f"{served.url}/v1/no-such-thing", headers={"Authorization": "Bearer s3cret-token-value"})
    _assert_envelope(reply, 404, "route_not_found")
    assert "s3cret-token-value" not in json.dumps(reply.body)
    _assert_envelope(_http("POST", f"{served.url}/nope"), 404, "route_not_found")


def test_a_method_a_route_lacks_is_405_in_the_envelope(api: Api):
    reply = api.patch("/v1/spaces", {})
    _assert_envelope(reply, 405, "method_not_allowed")
    assert "GET" in reply.headers.get("Allow", "") and "POST" in reply.headers.get("Allow", "")


def test_a_method_a_route_lacks_is_405_in_the_envelope_on_the_local_server(served):
    _assert_envelope(_http("PROPFIND", f"{served.url}/v1/me"), 405, "method_not_allowed")


def test_a_content_type_a_route_does_not_take_is_415_in_the_envelope(api: Api):
    reply = api.post("/v1/accounts", raw=b"<xml/>", headers={"Content-Type": "application/xml"})
    _assert_envelope(reply, 415, "unsupported_media_type")


def test_a_crash_is_500_in_the_envelope_without_a_trace(api: Api, monkeypatch):
    from chalicelib.wiring import services

    def crash(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services().accounts, "sign_up", crash)
    reply = api.post("/v1/accounts", {"handle": "crashy", "display_name": "C", "password": "correct horse battery"})
    _assert_envelope(reply, 500, "internal_error")
    assert "secret internals" not in json.dumps(reply.body)


# -- the app's own errors and the request id ------------------------------------------------------


def test_domain_errors_carry_the_request_id_of_their_answer(api: Api):
    _assert_envelope(api.get("/v1/me"), 401, "missing_token")
    first = _assert_envelope(api.get("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV", token=_token(api)), 404, "space_not_found")
    second = _assert_envelope(api.get("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV", token=_token(api, "other")), 404,
                              "space_not_found")
    assert first != second


def test_every_answer_carries_x_request_id(api: Api, served):
    assert api.get("/openapi.json").headers.get("X-Request-Id")
    assert _http("GET", f"{served.url}/openapi.json").headers.get("X-Request-Id")


def test_on_aws_the_request_id_is_api_gateways(api: Api):
    """API Gateway's ``requestContext.requestId`` is the id, in the header and the error."""
    from app import app

    event = {"resource": "/v1/me", "path": "/v1/me", "httpMethod": "GET", "headers": {"Accept": "application/json"},
             "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
             "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": "/v1/me", "httpMethod": "GET", "path": "/api/v1/me", "stage": "api",
                                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "identity": {"sourceIp": "203.0.113.9"}}}
    answer = app(event, None)
    assert answer["statusCode"] == 401
    assert answer["headers"]["X-Request-Id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert json.loads(answer["body"])["error"]["request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_the_log_lines_of_a_request_carry_its_request_id(api: Api):
    lines = _Lines()
    lines.setFormatter(logger.registered_formatter)
    logger.addHandler(lines)
    try:
        reply = api.get("/v1/me")
    finally:
        logger.removeHandler(lines)
    refused = [line for line in lines.lines if line["message"] == "request refused"]
    assert refused and refused[0]["request_id"] == reply.headers["X-Request-Id"]
    assert "request_id" not in logger.get_current_keys()  # not carried over to the next request


# -- session tokens -------------------------------------------------------------------------------


def _token(api: Api, handle: str = "tokens") -> str:
    return api.sign_up(handle)[1]


def test_an_expired_session_token_is_token_expired(api: Api, clock, settings):
    token = _token(api)
    clock.advance(seconds=settings.token_ttl_seconds + 1)
    reply = api.get("/v1/me", token=token)
    assert (reply.status, reply.error_code) == (401, "token_expired")
    _assert_envelope(reply, 401, "token_expired")


def test_a_malformed_or_forged_session_token_is_invalid_token(api: Api, clock, settings):
    token = _token(api)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-secret-" * 3, algorithm="HS256")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    for bad in ("garbage", forged, tampered, token + "x"):
        reply = api.get("/v1/me", token=bad)
        assert (reply.status, reply.error_code) == (401, "invalid_token"), bad
        _assert_envelope(reply, 401, "invalid_token")
    # A forged token is invalid, not expired, even once its time is up.
    clock.advance(seconds=settings.token_ttl_seconds + 1)
    assert api.get("/v1/me", token=forged).error_code == "invalid_token"
