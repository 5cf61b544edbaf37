"""The media worker's speaking callback: only a body signed with the space's key (derived
from the service secret; the worker signs with the same function) for this method and path,
fresh and unaltered, becomes a ``speaking`` event; an unknown space is 404; an API that has
no service secret does not start."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.settings import InsecureSettings
from chalicelib.wiring import build_services
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH
from tests.api.rooms_support import make_host
from tests.support import Api

BODY = json.dumps({"speakers": [{"user_id": "ada", "level": 0.4}], "at": "2026-11-30T12:00:00Z"}).encode()


@pytest.fixture
def space_id(api) -> str:
    host = make_host(api, "loud_host")
    return api.post("/v1/spaces", {"title": "Loud"}, token=host.token).body["id"]


def _signed(secret: str, space_id: str, body: bytes = BODY, method: str = "POST", path: str | None = None,
            **kw) -> str:
    key = signatures.space_key(secret, space_id)
    return signatures.sign_request(key, method, path or SPEAKING_PATH.format(space_id=space_id), body, **kw)


def _report(api: Api, space_id: str, signature: str | None):
    return api.post(SPEAKING_PATH.format(space_id=space_id), raw=BODY,
                    headers={signatures.HEADER: signature} if signature is not None else {})


def test_a_signed_report_reaches_the_room(api, settings, events, space_id):
    assert _report(api, space_id, _signed(settings.service_secret, space_id)).status == 202
    [event] = events.of_type("speaking")
    assert event.space_id == space_id and event.data == {"speakers": [{"user_id": "ada", "level": 0.4}]}


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "the service secret itself", "another space's key",
                                     "stale", "other body", "other path", "other method", "garbage"])
def test_an_unsigned_or_forged_report_is_refused_and_announces_nothing(api, settings, events, space_id, forgery):
    secret = settings.service_secret
    signature = {
        "unsigned": None,
        "wrong secret": _signed("not-the-service-secret-0123456789", space_id),
        "the service secret itself": signatures.sign(secret, BODY),  # the old scheme: no space, method or path
        "another space's key": signatures.sign_request(signatures.space_key(secret, "01OTHERSPACE"), "POST",
                                                       SPEAKING_PATH.format(space_id=space_id), BODY),
        "stale": _signed(secret, space_id, now=time.time() - signatures.TOLERANCE_SECONDS - 5),
        "other body": _signed(secret, space_id, BODY.replace(b"0.4", b"0.9")),
        "other path": _signed(secret, space_id, path="/control"),  # a control call captured on its way to the worker
        "other method": _signed(secret, space_id, method="PUT"),
        "garbage": "t=now,n=x,v1=hmm",
    }[forgery]
    reply = _report(api, space_id, signature)
    assert reply.status == 401 and reply.error_code == "invalid_signature"
    assert events.of_type("speaking") == []


def test_a_report_for_an_unknown_space_is_404(api, settings, events):
    unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    reply = _report(api, unknown, _signed(settings.service_secret, unknown))
    assert reply.status == 404 and reply.error_code == "space_not_found"
    assert events.of_type("speaking") == []


def test_there_is_no_api_without_a_service_secret(settings):
    """An empty secret would verify nothing anyway (signatures.verify); since issue 15 the API
    does not even start without one (tests/security/test_secrets.py)."""
    with pytest.raises(InsecureSettings, match="PARLOR_SERVICE_SECRET is not set"):
        build_services(settings.model_copy(update=dict(service_secret="")))
