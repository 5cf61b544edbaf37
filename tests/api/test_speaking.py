"""The media worker's speaking callback: only a body signed with the service secret, fresh,
becomes a ``speaking`` event in the room."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib import signatures

PATH = "/v1/internal/spaces/01SPACE/speaking"
BODY = json.dumps({"speakers": [{"user_id": "ada", "level": 0.4}]}).encode()


def _report(api, body: bytes, signature: str | None):
    headers = {} if signature is None else {signatures.HEADER: signature}
    return api.post(PATH, raw=body, headers=headers)


def test_a_signed_report_reaches_the_room(api, settings, events):
    reply = _report(api, BODY, signatures.sign(settings.service_secret, BODY))
    assert reply.status == 202
    [event] = events.of_type("speaking")
    assert event.space_id == "01SPACE" and event.data == {"speakers": [{"user_id": "ada", "level": 0.4}]}


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "stale", "other body", "garbage"])
def test_an_unsigned_or_forged_report_is_refused_and_announces_nothing(api, settings, events, forgery):
    signature = {
        "unsigned": None,
        "wrong secret": signatures.sign("not-the-service-secret", BODY),
        "stale": signatures.sign(settings.service_secret, BODY, now=time.time() - signatures.TOLERANCE_SECONDS - 5),
        "other body": signatures.sign(settings.service_secret, BODY.replace(b"0.4", b"0.9")),
        "garbage": "t=x,v1=y",
    }[forgery]
    reply = _report(api, BODY, signature)
    assert reply.status == 401 and reply.error_code == "invalid_signature"
    assert events.of_type("speaking") == []
