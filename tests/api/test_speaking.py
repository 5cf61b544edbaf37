"""The media worker's speaking callback: taken only with a fresh signature made with the
service secret (the worker signs with the same function), and refused by an API that has none."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Iterator

import pytest
from chalice.test import Client

from chalicelib.wiring import build_services, use_services
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH
from tests.conftest import FAST_HASHER
from tests.support import Api

PATH = SPEAKING_PATH.format(space_id="space-1")
BODY = json.dumps({"speakers": [{"user_id": "ada", "level": 0.4}], "at": "2026-11-30T12:00:00Z"}).encode()


def call(api: Api, header: str | None) -> int:
    return api.post(PATH, raw=BODY, headers={signatures.HEADER: header} if header is not None else {}).status


def test_a_signed_report_becomes_a_speaking_event(api, settings, events):
    assert call(api, signatures.sign(settings.service_secret, BODY)) == 202
    (event,) = events.of_type("speaking")
    assert event.space_id == "space-1" and event.data == {"speakers": [{"user_id": "ada", "level": 0.4}]}


@pytest.mark.parametrize("header", ["forged", "stale", "missing", "garbage"])
def test_a_forged_stale_or_missing_signature_is_refused(api, settings, events, header):
    value = {"forged": signatures.sign("not-the-service-secret-0123456789", BODY),
             "stale": signatures.sign(settings.service_secret, BODY, now=time.time() - 301),
             "missing": None, "garbage": "t=now,v1=hmm"}[header]
    reply = api.post(PATH, raw=BODY, headers={signatures.HEADER: value} if value is not None else {})
    assert reply.status == 401 and reply.error_code == "invalid_signature"
    assert events.of_type("speaking") == []


@pytest.fixture
def api_without_a_service_secret(container, settings, clock, events, media) -> Iterator[Api]:
    from app import app

    use_services(build_services(replace(settings, service_secret=""), clock=clock, hasher=FAST_HASHER, events=events,
                                media=media))
    with Client(app) as client:
        yield Api(client)


def test_an_api_without_a_service_secret_takes_no_report(api_without_a_service_secret, events):
    assert call(api_without_a_service_secret, signatures.sign("", BODY)) == 401
    assert events.of_type("speaking") == []
