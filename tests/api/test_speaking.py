"""The media worker's speaking callback: only a body signed with the service secret (the
worker signs with the same function), fresh and unaltered, becomes a ``speaking`` event;
an API that has no service secret does not start."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.settings import InsecureSettings
from chalicelib.wiring import build_services
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH
from tests.support import Api

PATH = SPEAKING_PATH.format(space_id="01SPACE")
BODY = json.dumps({"speakers": [{"user_id": "ada", "level": 0.4}], "at": "2026-11-30T12:00:00Z"}).encode()


def _report(api: Api, signature: str | None):
    return api.post(PATH, raw=BODY, headers={signatures.HEADER: signature} if signature is not None else {})


def test_a_signed_report_reaches_the_room(api, settings, events):
    assert _report(api, signatures.sign(settings.service_secret, BODY)).status == 202
    [event] = events.of_type("speaking")
    assert event.space_id == "01SPACE" and event.data == {"speakers": [{"user_id": "ada", "level": 0.4}]}


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "stale", "other body", "garbage"])
def test_an_unsigned_or_forged_report_is_refused_and_announces_nothing(api, settings, events, forgery):
    signature = {
        "unsigned": None,
        "wrong secret": signatures.sign("not-the-service-secret-0123456789", BODY),
        "stale": signatures.sign(settings.service_secret, BODY, now=time.time() - signatures.TOLERANCE_SECONDS - 5),
        "other body": signatures.sign(settings.service_secret, BODY.replace(b"0.4", b"0.9")),
        "garbage": "t=now,v1=hmm",
    }[forgery]
    reply = _report(api, signature)
    assert reply.status == 401 and reply.error_code == "invalid_signature"
    assert events.of_type("speaking") == []


def test_there_is_no_api_without_a_service_secret(settings):
    """An empty secret would verify nothing anyway (signatures.verify); since issue 15 the API
    does not even start without one (tests/security/test_secrets.py)."""
    with pytest.raises(InsecureSettings, match="PARLOR_SERVICE_SECRET is not set"):
        build_services(settings.model_copy(update=dict(service_secret="")))
