"""The Stripe stand-in, driven only through the official SDK and plain HTTP."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
import requests
import stripe

from local.stack import free_port
from local.stripe_standin import Config, create_app, unflatten
from parlor_contract.signatures import sign
from tests.api.test_ticketing import SECRET, StandIn
from tests.servers import ServedApp


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


class _Receiver(http.server.BaseHTTPRequestHandler):
    """The API's webhook endpoint: records each event id and acknowledges it."""

    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["id"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_state_outlives_the_process_and_only_unacknowledged_webhooks_are_sent_again(tmp_path):
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    listening = f"http://127.0.0.1:{receiver.server_address[1]}/webhook"
    state = tmp_path / "stripe.json"

    def run(webhook_url: str) -> ServedApp:
        return ServedApp(create_app(Config(webhook_url=webhook_url, webhook_secret=SECRET, state_path=state)))

    def standin_client(app: ServedApp) -> stripe.StripeClient:
        return stripe.StripeClient("sk_test_standin", base_addresses={"api": app.url})

    def enable(app: ServedApp, account_id: str) -> None:
        assert requests.post(f"{app.url}/_test/accounts/{account_id}/enable", timeout=10).status_code == 200

    first = run(listening)
    delivered = standin_client(first).v1.accounts.create(params={"type": "express"}, options={"idempotency_key": "k-1"})
    enable(first, delivered.id)
    _until(lambda: '"pending_webhooks": 0' in state.read_text())  # acknowledged, and saved so
    first.stop()

    nobody_listens = run(f"http://127.0.0.1:{free_port()}/webhook")
    undelivered = standin_client(nobody_listens).v1.accounts.create(params={"type": "express"})
    enable(nobody_listens, undelivered.id)
    nobody_listens.stop()  # before any delivery could succeed

    again = run(listening)
    try:
        client = standin_client(again)
        assert client.v1.accounts.retrieve(delivered.id).payouts_enabled
        assert client.v1.accounts.retrieve(undelivered.id).payouts_enabled
        # An idempotency key used before the restart still replays the first answer.
        assert client.v1.accounts.create(params={"type": "express"}, options={"idempotency_key": "k-1"}).id == delivered.id
        events = {e["data"]["object"]["id"]: e["id"] for e in requests.get(f"{again.url}/_test/events", timeout=10).json()["data"]}
        _until(lambda: events[undelivered.id] in _Receiver.received)
        assert _Receiver.received.count(events[delivered.id]) == 1, "an acknowledged event is not sent twice"
    finally:
        again.stop()
        receiver.shutdown()
