"""The Stripe stand-in, driven only through the official SDK and plain HTTP."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from local.stripe_standin import unflatten
from parlor_contract.signatures import sign
from tests.api.test_ticketing import SECRET, StandIn


@pytest.fixture(scope="module")
def standin() -> StandIn:
    return StandIn()


@pytest.fixture
def client(standin: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_standin", base_addresses={"api": standin.base})


def test_params_are_decoded_as_the_sdk_encodes_them():
    assert unflatten({"line_items[0][price_data][unit_amount]": "500", "metadata[a]": "b", "mode": "payment"}) == {
        "line_items": [{"price_data": {"unit_amount": "500"}}], "metadata": {"a": "b"}, "mode": "payment"}


def test_auth_and_missing_objects_fail_like_stripe(standin, client):
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("pk_wrong", base_addresses={"api": standin.base}).v1.accounts.create(params={"type": "express"})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert missing.value.code == "resource_missing"


def test_idempotency_keys_replay_and_refuse_other_params(client):
    first = client.v1.accounts.create(params={"type": "express"}, options={"idempotency_key": "k1"})
    again = client.v1.accounts.create(params={"type": "express"}, options={"idempotency_key": "k1"})
    assert first.id == again.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.accounts.create(params={"type": "express", "country": "FR"}, options={"idempotency_key": "k1"})


def test_onboarding_page_enables_the_account(standin, client):
    account = client.v1.accounts.create(params={"type": "express"})
    link = client.v1.account_links.create(params={"account": account.id, "refresh_url": "https://app/r",
                                                  "return_url": "https://app/done", "type": "account_onboarding"})
    assert requests.get(link.url, timeout=10).status_code == 200
    submitted = requests.post(link.url, allow_redirects=False, timeout=10)
    assert submitted.status_code == 303 and submitted.headers["Location"] == "https://app/done"
    assert client.v1.accounts.retrieve(account.id).charges_enabled is True


def test_hosted_checkout_pays_and_refunds_never_exceed_the_charge(standin, client):
    import time

    account = client.v1.accounts.create(params={"type": "express"})
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 700,
                                                                        "product_data": {"name": "Ticket"}}}],
        "payment_intent_data": {"application_fee_amount": 21, "transfer_data": {"destination": account.id}},
        "expires_at": int(time.time()) + 3600, "success_url": "https://app/ok?s={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app/no"})
    assert "Ticket" in requests.get(session.url, timeout=10).text
    paid = requests.post(session.url, allow_redirects=False, timeout=10)
    assert paid.status_code == 303 and paid.headers["Location"] == f"https://app/ok?s={session.id}"
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status) == ("complete", "paid")
    intent = client.v1.payment_intents.retrieve(done.payment_intent)
    assert intent.application_fee_amount == 21 and intent.transfer_data["destination"] == account.id
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 300})
    client.v1.refunds.create(params={"payment_intent": intent.id})
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert again.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)  # only open sessions expire


def test_events_are_signed_like_stripe(standin, client):
    account = client.v1.accounts.create(params={"type": "express"})
    standin.test_route(f"/_test/accounts/{account.id}/enable")
    event = [e for e in standin.events("account.updated") if e["data"]["object"]["id"] == account.id][0]
    signed = standin.test_route(f"/_test/events/{event['id']}/signed")
    verified = stripe.Webhook.construct_event(signed["payload"], signed["signature"], SECRET)
    assert verified.id == event["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(signed["payload"], sign("whsec_other", signed["payload"]), SECRET)
    assert json.loads(signed["payload"])["object"] == "event"
