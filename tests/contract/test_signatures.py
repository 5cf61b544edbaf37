"""The one signature scheme between the API and its workers (and the Stripe stand-in)."""

from __future__ import annotations

import json

import pytest
import stripe

from parlor_contract import signatures

SECRET = "service-secret-for-tests-0123456789"
BODY = b'{"action":"close"}'


def test_a_signature_verifies_only_with_its_secret_body_and_time():
    header = signatures.sign(SECRET, BODY, now=1_000_000)
    assert signatures.verify(SECRET, BODY, header, now=1_000_100)
    assert not signatures.verify("another-secret", BODY, header, now=1_000_100)
    assert not signatures.verify(SECRET, BODY + b" ", header, now=1_000_100)
    forged_time = header.replace("t=1000000", "t=1000050")
    assert not signatures.verify(SECRET, BODY, forged_time, now=1_000_100)


@pytest.mark.parametrize("skew", [301, -301])
def test_a_stale_or_future_signature_is_refused(skew):
    header = signatures.sign(SECRET, BODY, now=1_000_000)
    assert not signatures.verify(SECRET, BODY, header, now=1_000_000 + skew)


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=00", "t=1000000", "garbage"])
def test_a_malformed_signature_is_refused(header):
    assert not signatures.verify(SECRET, BODY, header, now=1_000_000)


def test_an_empty_secret_verifies_nothing():
    # Anyone can compute HMAC with an empty key: a service configured without one refuses all.
    assert not signatures.verify("", BODY, signatures.sign("", BODY, now=1_000_000), now=1_000_000)


def test_it_is_stripes_webhook_scheme():
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "account.updated", "data": {"object": {}}})
    header = signatures.sign("whsec_test", payload)  # Stripe signs the text; bytes and str sign alike
    assert header == signatures.sign("whsec_test", payload.encode(), now=int(header[2:].split(",")[0]))
    assert stripe.Webhook.construct_event(payload, header, "whsec_test").id == "evt_1"
