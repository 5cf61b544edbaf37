"""Browsers can call the REST API from the origins in ``PARLOR_CORS_ORIGINS``: every route
answers its preflight (OPTIONS) and echoes an allowed ``Origin`` on every answer, errors
included (a browser hides an answer it may not read); a disallowed origin gets no CORS header.
The media offer goes through the API, so this covers media signaling too."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from tests.conftest import TEST_SETTINGS
from tests.servers import ServedChalice
from tests.support import Api, Reply

WEB = "http://127.0.0.1:8080"
OTHER = "https://evil.example"
SPACE = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
CORS_HEADERS = {"access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                "access-control-expose-headers", "access-control-max-age", "access-control-allow-credentials"}


@pytest.fixture
def settings():
    return TEST_SETTINGS.model_copy(update={"cors_origins": (WEB, "https://app.example")})


def _headers(reply: Reply) -> dict[str, str]:
    return {k.lower(): v for k, v in reply.headers.items()}


def _preflight(api: Api, path: str, origin: str, method: str = "POST") -> Reply:
    return api.call("OPTIONS", path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                              "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})


def _assert_readable_by(reply: Reply, origin: str) -> None:
    headers = _headers(reply)
    assert headers.get("access-control-allow-origin") == origin, headers
    exposed = {h.strip().lower() for h in headers.get("access-control-expose-headers", "").split(",")}
    assert {"x-request-id", "retry-after"} <= exposed, headers
    assert "origin" in headers.get("vary", "").lower()


def _assert_no_cors(reply: Reply) -> None:
    assert not CORS_HEADERS & set(_headers(reply)), reply.headers


def test_a_preflight_from_an_allowed_origin_is_answered_for_the_media_offer(api: Api):
    reply = _preflight(api, f"/v1/spaces/{SPACE}/media/offer", WEB)
    assert reply.status in (200, 204)
    _assert_readable_by(reply, WEB)
    headers = _headers(reply)
    assert {"POST", "OPTIONS"} <= {m.strip() for m in headers["access-control-allow-methods"].split(",")}
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert int(headers["access-control-max-age"]) > 0


def test_every_route_answers_its_preflight_with_its_own_methods(api: Api):
    from chalicelib.api import ROUTERS

    for router in ROUTERS:
        for spec in router.specs:
            path = spec.path.replace("{space_id}", SPACE).replace("{user_id}", SPACE).replace("{token}", "t")
            path = path.replace("{", "").replace("}", "")
            reply = _preflight(api, path, "https://app.example", spec.method)
            assert reply.status in (200, 204), (spec.method, spec.path, reply.status)
            assert _headers(reply).get("access-control-allow-origin") == "https://app.example", spec.path
            assert spec.method in _headers(reply)["access-control-allow-methods"], spec.path


def test_a_preflight_from_another_origin_gets_no_cors_headers(api: Api):
    _assert_no_cors(_preflight(api, f"/v1/spaces/{SPACE}/media/offer", OTHER))


def test_answers_to_an_allowed_origin_are_readable_and_to_others_not(api: Api):
    _, token = api.sign_up("browser")
    allowed = api.get("/v1/me", token=token, headers={"Origin": WEB})
    assert allowed.status == 200
    _assert_readable_by(allowed, WEB)
    assert allowed.headers.get("X-Request-Id")
    refused = api.get("/v1/me", token=token, headers={"Origin": OTHER})
    assert refused.status == 200
    _assert_no_cors(refused)
    _assert_no_cors(api.get("/v1/me", token=token))  # not a browser: no Origin, no CORS


def test_errors_are_readable_by_an_allowed_origin(api: Api):
    unauthorized = api.get("/v1/me", headers={"Origin": WEB})
    assert unauthorized.status == 401
    _assert_readable_by(unauthorized, WEB)
    _, token = api.sign_up("reader")
    missing = api.get(f"/v1/spaces/{SPACE}", token=token, headers={"Origin": WEB})
    assert missing.status == 404 and missing.error_code == "space_not_found"
    _assert_readable_by(missing, WEB)
    wrong_method = api.patch("/v1/spaces", {}, headers={"Origin": WEB})
    assert wrong_method.status == 405
    _assert_readable_by(wrong_method, WEB)
    _assert_no_cors(api.get("/v1/me", headers={"Origin": OTHER}))


@pytest.fixture
def served(container) -> Iterator[ServedChalice]:
    from app import app

    server = ServedChalice(app)
    yield server
    server.stop()


def test_an_unknown_route_is_readable_by_an_allowed_origin_on_the_local_server(served):
    reply = requests.get(f"{served.url}/v1/nope", headers={"Origin": WEB}, timeout=10)
    assert reply.status_code == 404
    _assert_readable_by(Reply(reply.status_code, reply.json(), dict(reply.headers)), WEB)
    other = requests.get(f"{served.url}/v1/nope", headers={"Origin": OTHER}, timeout=10)
    _assert_no_cors(Reply(other.status_code, other.json(), dict(other.headers)))


def test_a_real_preflight_through_the_local_server(served):
    reply = requests.options(f"{served.url}/v1/spaces/{SPACE}/join", timeout=10,
                             headers={"Origin": WEB, "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "authorization"})
    assert reply.status_code in (200, 204)
    assert reply.headers["Access-Control-Allow-Origin"] == WEB
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]


def test_the_local_stack_allows_its_web_origin_by_default():
    from local.stack import Ports, stack_env

    env = stack_env(Ports(web=8123), base={}, secrets=_fake_secrets())
    assert "http://127.0.0.1:8123" in env["PARLOR_CORS_ORIGINS"].split(",")
    overridden = stack_env(Ports(), base={"PARLOR_CORS_ORIGINS": "https://mine.example"}, secrets=_fake_secrets())
    assert overridden["PARLOR_CORS_ORIGINS"] == "https://mine.example"


def _fake_secrets() -> dict[str, str]:
    keys = ("media_token_private_key", "media_token_public_key", "jwt_secret", "service_secret", "stripe_api_key",
            "stripe_webhook_secret", "turn_secret", "cdn_private_key", "cdn_key_pair_id")
    return {k: f"x-{k}" for k in keys}
