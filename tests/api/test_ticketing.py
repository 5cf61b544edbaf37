"""Ticketed spaces end to end through the real Stripe SDK against the local stand-in:
onboarding, checkout holds under a race, signed webhooks, access, refunds on cancel."""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

import pytest
import requests
from chalice.test import Client

from chalicelib.errors import DomainError
from chalicelib.gateways.queues import Queue
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.tickets import TicketModel
from chalicelib.services.ticketing.seats import platform_fee
from chalicelib.settings import get_settings
from chalicelib.wiring import build_services, services, use_services
from local.stack import free_port
from local.stripe_standin import Config, create_app, sign
from tests.api.rooms_support import make_host, make_person
from tests.conftest import FAST_HASHER
from tests.fakes import RecordingMedia, RecordingPublisher
from tests.servers import ServedApp
from tests.support import Api

# Made per run: the API refuses published (and short) Stripe secrets.
SECRET = "whsec_" + secrets.token_urlsafe(32)
STRIPE_KEY = "sk_test_" + secrets.token_urlsafe(32)


class StandIn(ServedApp):
    """The Stripe stand-in, served in-process."""

    def __init__(self) -> None:
        super().__init__(create_app(Config(webhook_secret=SECRET)))
        self.base = self.url

    def test_route(self, path: str) -> dict:
        reply = requests.post(self.base + path, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def events(self, kind: str) -> list[dict]:
        return [e for e in requests.get(self.base + "/_test/events", timeout=10).json()["data"] if e["type"] == kind]


@pytest.fixture(scope="module")
def stripe_standin() -> Iterator[StandIn]:
    standin = StandIn()
    yield standin
    standin.stop()


@pytest.fixture
def shop(aws, clock, settings, stripe_standin) -> Iterator[Api]:
    from app import app
    from tests.conftest import _empty_tables

    local = settings.model_copy(update=dict(stripe_api_base=stripe_standin.base, stripe_webhook_secret=SECRET,
                    stripe_api_key=STRIPE_KEY))
    use_services(build_services(local, clock=clock, hasher=FAST_HASHER, events=RecordingPublisher(), media=RecordingMedia()))
    with Client(app) as client:
        yield Api(client)
    use_services(None)
    _empty_tables()


def deliver(api: Api, standin: StandIn, event: dict) -> object:
    """Post a stand-in event to the webhook exactly as Stripe would (its own signature)."""
    signed = standin.test_route(f"/_test/events/{event['id']}/signed")
    return api.post("/v1/stripe/webhook", raw=signed["payload"], headers={"Stripe-Signature": signed["signature"]})


def onboarded_host(api: Api, standin: StandIn):
    host = make_host(api, "host")
    reply = api.post("/v1/me/payouts/onboarding", token=host.token)
    assert reply.status == 200 and reply.body["account_id"].startswith("acct_") and "/onboarding/" in reply.body["url"]
    again = api.post("/v1/me/payouts/onboarding", token=host.token)
    assert again.body["account_id"] == reply.body["account_id"]  # created once
    standin.test_route(f"/_test/accounts/{reply.body['account_id']}/enable")
    updated = [e for e in standin.events("account.updated") if e["data"]["object"]["id"] == reply.body["account_id"]]
    assert deliver(api, standin, updated[-1]).status == 200
    return host


def ticketed_space(api: Api, host, clock, max_tickets: int = 2, price: int = 499) -> str:
    start = (clock.now() + timedelta(days=1)).isoformat()
    reply = api.post("/v1/spaces", {"title": "Paid talk", "scheduled_start": start,
                                    "ticket": {"price_cents": price, "currency": "usd", "max_tickets": max_tickets}},
                     token=host.token)
    assert reply.status == 201, reply.body
    return reply.body["id"]


def test_platform_fee_rounds_half_up():
    assert platform_fee(100, 300) == 3
    assert platform_fee(499, 300) == 15  # 14.97 → 15
    assert platform_fee(150, 300) == 5  # 4.5 → 5 (half up)
    assert platform_fee(99_900, 300) == 2_997
    assert platform_fee(1_000, 0) == 0


def test_a_host_without_enabled_payouts_cannot_sell(shop, clock):
    host = make_host(shop, "host")
    start = (clock.now() + timedelta(days=1)).isoformat()
    reply = shop.post("/v1/spaces", {"title": "Paid", "scheduled_start": start,
                                     "ticket": {"price_cents": 500, "currency": "usd", "max_tickets": 5}}, token=host.token)
    assert reply.status == 422 and reply.error_code == "payouts_not_enabled"
    assert SpaceModel.count() == 0


def test_the_whole_ticket_flow(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=2)
    first, ana, ben = make_person(api, "first"), make_person(api, "ana"), make_person(api, "ben")

    assert api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=host.token).error_code == "host_cannot_buy"
    opened = api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=first.token)
    assert opened.status == 201 and opened.body["session_id"].startswith("cs_test_")
    # Two buyers race for the last seat: exactly one gets a checkout.
    from chalicelib.wiring import services

    container = services()

    def buy(person):
        try:
            return container.seats.checkout(person.id, space_id)[0]
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(buy, [ana, ben]))
    assert sorted(o if o == "sold_out" else "session" for o in outcomes) == ["session", "sold_out"]
    assert SpaceModel.get(space_id).seats_taken == 2
    winner = ana if outcomes[0] != "sold_out" else ben

    # Stripe Checkout: the session carries the fee, the destination, the metadata.
    session = requests.get(f"{standin.base}/v1/checkout/sessions/{opened.body['session_id']}",
                           headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=10).json()
    assert session["amount_total"] == 499 and session["metadata"] == {"space_id": space_id, "buyer_id": first.id}

    # Nobody gets in before paying.
    api.post(f"/v1/spaces/{space_id}/start", token=host.token)
    assert api.post(f"/v1/spaces/{space_id}/join", token=first.token).error_code == "ticket_required"

    # Pay; the signed webhook grants the ticket, once, even when Stripe sends it again.
    standin.test_route(f"/_test/checkout/sessions/{opened.body['session_id']}/pay")
    completed = [e for e in standin.events("checkout.session.completed")
                 if e["data"]["object"]["id"] == opened.body["session_id"]][0]
    assert deliver(api, standin, completed).body["outcome"] == "granted"
    assert deliver(api, standin, completed).body["outcome"] == "duplicate"
    assert api.post(f"/v1/spaces/{space_id}/join", token=first.token).status == 200
    assert api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=first.token).error_code == "already_has_ticket"
    mine = api.get("/v1/me/tickets", token=first.token).body["tickets"]
    assert [(t["space_id"], t["status"], t["fee_cents"]) for t in mine] == [(space_id, "paid", 15)]

    # A forged or unsigned webhook changes nothing.
    forged = json.dumps({**completed, "id": "evt_forged"})
    assert api.post("/v1/stripe/webhook", raw=forged, headers={"Stripe-Signature": sign("whsec_wrong", forged)}).status == 400
    assert api.post("/v1/stripe/webhook", raw=forged).status == 400

    # The racer's session expires at Stripe: the seat comes back.
    racer = TicketModel.get(space_id, winner.id)
    standin.test_route(f"/_test/checkout/sessions/{racer.session_id}/expire_now")
    expired = [e for e in standin.events("checkout.session.expired") if e["data"]["object"]["id"] == racer.session_id][0]
    assert deliver(api, standin, expired).body["outcome"] == "released"
    assert SpaceModel.get(space_id).seats_taken == 1

    buyers = api.get(f"/v1/spaces/{space_id}/buyers", token=host.token).body
    assert (buyers["sold"], buyers["gross_cents"], buyers["platform_fee_cents"], buyers["creator_net_cents"]) == (1, 499, 15, 484)
    assert api.get(f"/v1/spaces/{space_id}/buyers", token=first.token).status == 403


def test_cancelling_refunds_every_buyer_exactly_once(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host, space_id, buyers = sold_twice(api, standin, clock)

    assert api.post(f"/v1/spaces/{space_id}/cancel", token=host.token).status == 200
    bodies = refund_bodies()
    assert len(bodies) == 2
    run_refund_jobs(bodies, times=2)  # the refund jobs run, then SQS delivers them all again
    mine = refunds_for(standin, space_id)
    assert len(mine) == 2 and all(charge["refunded"] for charge in mine)
    deliver_refund_notices(api, standin, space_id)
    for buyer in buyers:
        assert [t["status"] for t in api.get("/v1/me/tickets", token=buyer.token).body["tickets"]] == ["refunded"]


def test_a_host_deleting_their_account_cancels_their_ticketed_space_and_refunds_every_buyer(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host, space_id, buyers = sold_twice(api, standin, clock)

    assert api.delete("/v1/me", token=host.token, body={"password": "correct horse battery"}).status == 204
    assert SpaceModel.get(space_id).state == "canceled"
    assert_every_buyer_refunded(api, standin, space_id, buyers)


def test_an_ended_or_cancelled_space_sells_nothing(shop, stripe_standin, clock):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock)
    shop.post(f"/v1/spaces/{space_id}/cancel", token=host.token)
    buyer = make_person(shop, "late")
    reply = shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=buyer.token)
    assert reply.status == 409 and reply.error_code == "invalid_state"
    ended = ticketed_space(shop, host, clock)
    shop.post(f"/v1/spaces/{ended}/start", token=host.token)
    shop.post(f"/v1/spaces/{ended}/end", token=host.token)
    assert shop.post(f"/v1/spaces/{ended}/tickets/checkout", token=buyer.token).error_code == "invalid_state"
    free = shop.post("/v1/spaces", {"title": "Free"}, token=host.token).body["id"]
    assert shop.post(f"/v1/spaces/{free}/tickets/checkout", token=buyer.token).error_code == "not_ticketed"


# -- money owed back: late payments, crashes, retries ---------------------------------------------


def refund_bodies() -> list[str]:
    """Every refund job waiting in the queue (taken off it)."""
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=get_settings().queue_name(Queue.REFUNDS))["QueueUrl"]
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def run_refund_jobs(bodies: list[str], times: int = 1) -> None:
    from app import app

    with Client(app) as client:
        for _ in range(times):
            client.lambda_.invoke("refund_jobs", client.events.generate_sqs_event(
                queue_name=get_settings().queue_name(Queue.REFUNDS), message_bodies=bodies))


def run_refund_sweep() -> None:
    from app import app

    with Client(app) as client:
        client.lambda_.invoke("sweep_refunds", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def refunds_for(standin: StandIn, space_id: str) -> list[dict]:
    return [e["data"]["object"] for e in standin.events("charge.refunded")
            if e["data"]["object"]["metadata"].get("space_id") == space_id]


def deliver_refund_notices(api: Api, standin: StandIn, space_id: str) -> None:
    """Stripe's charge.refunded events for this space, delivered to the webhook."""
    for event in standin.events("charge.refunded"):
        if event["data"]["object"]["metadata"].get("space_id") == space_id:
            deliver(api, standin, event)


def assert_every_buyer_refunded(api: Api, standin: StandIn, space_id: str, buyers: list) -> None:
    """The refund jobs run, Stripe refunds each buyer once, its notices come back: every ticket is refunded."""
    run_refund_jobs(refund_bodies())
    assert len(refunds_for(standin, space_id)) == len(buyers)
    deliver_refund_notices(api, standin, space_id)
    for buyer in buyers:
        assert [t["status"] for t in api.get("/v1/me/tickets", token=buyer.token).body["tickets"]] == ["refunded"]


def sold_twice(api: Api, standin: StandIn, clock) -> tuple:
    """An onboarded host's ticketed space (5 seats at 10.00) with two paid buyers."""
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=5, price=1_000)
    buyers = [make_person(api, f"buyer{i}") for i in range(2)]
    for buyer in buyers:
        pay(api, standin, buyer, space_id)
    return host, space_id, buyers


def pay(api: Api, standin: StandIn, buyer, space_id: str, deliver_now: bool = True) -> dict:
    """Open a checkout and pay it at Stripe; returns the completed event (delivered unless told not to)."""
    session_id = api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=buyer.token).body["session_id"]
    standin.test_route(f"/_test/checkout/sessions/{session_id}/pay")
    event = [e for e in standin.events("checkout.session.completed") if e["data"]["object"]["id"] == session_id][0]
    if deliver_now:
        assert deliver(api, standin, event).body["outcome"] == "granted"
    return event


def test_a_payment_completing_as_the_host_cancels_is_refunded_exactly_once(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=5, price=800)
    buyer = make_person(api, "buyer")
    completed = pay(api, standin, buyer, space_id, deliver_now=False)  # paid at Stripe, webhook still in flight
    assert api.post(f"/v1/spaces/{space_id}/cancel", token=host.token).status == 200
    refund_bodies()  # (the cancel found no paid ticket: nothing to queue)

    assert deliver(api, standin, completed).body["outcome"] == "refunding"
    ticket = TicketModel.get(space_id, buyer.id)
    assert ticket.status == "refund_pending" and ticket.payment_intent_id == completed["data"]["object"]["payment_intent"]
    space = SpaceModel.get(space_id)
    assert (space.seats_taken, space.tickets_held, space.tickets_sold) == (0, 0, 0)
    bodies = refund_bodies()
    assert [json.loads(b) for b in bodies] == [{"space_id": space_id, "buyer_id": buyer.id,
                                                "payment_intent_id": ticket.payment_intent_id}]

    run_refund_jobs(bodies, times=2)  # SQS delivers it twice
    refunds = refunds_for(standin, space_id)
    assert len(refunds) == 1 and refunds[0]["amount_refunded"] == 800
    for event in [e for e in standin.events("charge.refunded") if e["data"]["object"]["id"] == refunds[0]["id"]]:
        deliver(api, standin, event)
    assert [t["status"] for t in api.get("/v1/me/tickets", token=buyer.token).body["tickets"]] == ["refunded"]
    assert deliver(api, standin, completed).body["outcome"] == "duplicate"


def test_a_payment_after_the_space_ended_is_refunded_and_the_sales_stand(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=5, price=500)
    early, late = make_person(api, "early"), make_person(api, "late")
    pay(api, standin, early, space_id)
    completed = pay(api, standin, late, space_id, deliver_now=False)
    api.post(f"/v1/spaces/{space_id}/start", token=host.token)
    assert api.post(f"/v1/spaces/{space_id}/end", token=host.token).status == 200

    assert deliver(api, standin, completed).body["outcome"] == "refunding"
    run_refund_jobs(refund_bodies())
    assert [r["metadata"]["buyer_id"] for r in refunds_for(standin, space_id)] == [late.id]
    run_refund_sweep()  # the ended space's real sale is not refunded by the sweep
    assert refund_bodies() == []
    assert TicketModel.get(space_id, early.id).status == "paid"


@contextmanager
def refunds_queue_down() -> Iterator[None]:
    """SQS has no refunds queue for a while (the fault a crash between owing and queueing leaves)."""
    import boto3

    from local.bootstrap import create_queues

    name = get_settings().queue_name(Queue.REFUNDS)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    try:
        yield
    finally:
        create_queues([name])


def test_the_sweep_queues_the_refunds_a_crash_left_behind(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=5, price=1_200)
    buyers = [make_person(api, f"buyer{i}") for i in range(2)]
    for buyer in buyers:
        pay(api, standin, buyer, space_id)
    with refunds_queue_down():
        assert api.post(f"/v1/spaces/{space_id}/cancel", token=host.token).status == 500
    assert SpaceModel.get(space_id).state == "canceled" and refund_bodies() == []
    assert SpaceModel.get(space_id).refund_sweep == "due"

    run_refund_sweep()
    bodies = refund_bodies()
    assert sorted(json.loads(b)["buyer_id"] for b in bodies) == sorted(b.id for b in buyers)
    run_refund_jobs(bodies)
    run_refund_sweep()  # refunds requested, not yet confirmed: nothing queued again, still marked
    assert refund_bodies() == [] and SpaceModel.get(space_id).refund_sweep == "due"
    refunds = refunds_for(standin, space_id)
    assert len(refunds) == 2 and all(r["amount_refunded"] == 1_200 for r in refunds)
    deliver_refund_notices(api, standin, space_id)
    run_refund_sweep()  # all confirmed: the space is unmarked
    assert refund_bodies() == [] and SpaceModel.get(space_id).refund_sweep is None
    assert all(TicketModel.get(space_id, b.id).status == "refunded" for b in buyers)


def test_webhooks_signed_for_either_endpoint_are_accepted_and_others_refused():
    from chalicelib.gateways.payments import Payments

    payments = Payments("sk_test_parlor", "whsec_platform, whsec_connect")
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "account.updated", "data": {"object": {}}})
    for secret in ("whsec_platform", "whsec_connect"):
        assert payments.parse_webhook(payload.encode(), sign(secret, payload))["id"] == "evt_1"
    with pytest.raises(ValueError):
        payments.parse_webhook(payload.encode(), sign("whsec_someone_else", payload))
    with pytest.raises(ValueError):
        Payments("sk_test_parlor", "").parse_webhook(payload.encode(), sign("whsec_platform", payload))


def test_a_payment_after_its_hold_lapsed_buys_a_free_seat_or_is_refunded(shop, stripe_standin, clock):
    from chalicelib.wiring import services

    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=1, price=700)
    ana, ben, cal = make_person(api, "ana"), make_person(api, "ben"), make_person(api, "cal")

    # Ana's hold lapses on our side (its seat is given back) but she still pays: the seat is free.
    late = pay(api, standin, ana, space_id, deliver_now=False)
    assert services().seats.release(space_id, ana.id)
    assert SpaceModel.get(space_id).seats_taken == 0
    assert deliver(api, standin, late).body["outcome"] == "granted"
    assert (TicketModel.get(space_id, ana.id).status, SpaceModel.get(space_id).seats_taken) == ("paid", 1)

    # With one more seat (seeded), Ben's hold lapses too, Cal takes the seat, then Ben pays: refunded.
    SpaceModel(space_id=space_id).update(actions=[SpaceModel.max_tickets.set(2)])
    late = pay(api, standin, ben, space_id, deliver_now=False)
    assert services().seats.release(space_id, ben.id)
    pay(api, standin, cal, space_id)
    assert deliver(api, standin, late).body["outcome"] == "refunding"
    assert TicketModel.get(space_id, ben.id).status == "refund_pending"
    assert SpaceModel.get(space_id).seats_taken == 2  # Ana and Cal; Ben's payment bought nothing
    run_refund_jobs(refund_bodies())
    assert [r["metadata"]["buyer_id"] for r in refunds_for(standin, space_id)] == [ben.id]


def test_a_stale_refund_job_does_not_refund_the_buyers_next_purchase(shop, stripe_standin, clock):
    from chalicelib.wiring import services

    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=1, price=900)
    ben, cal = make_person(api, "ben"), make_person(api, "cal")

    # Ben pays after his hold lapsed and Cal took the seat: his payment is to be refunded.
    late = pay(api, standin, ben, space_id, deliver_now=False)
    assert services().seats.release(space_id, ben.id)
    pay(api, standin, cal, space_id)
    assert deliver(api, standin, late).body["outcome"] == "refunding"
    first_jobs = refund_bodies()
    run_refund_sweep()  # before the job ran: the sweep queues the same refund again
    duplicate_jobs = refund_bodies()
    assert len(first_jobs) == len(duplicate_jobs) == 1
    run_refund_jobs(first_jobs)
    for event in standin.events("charge.refunded"):
        if event["data"]["object"]["metadata"].get("buyer_id") == ben.id:
            deliver(api, standin, event)
    assert TicketModel.get(space_id, ben.id).status == "refunded"

    # A seat frees up and Ben buys one; then the duplicate job of his first payment arrives.
    SpaceModel(space_id=space_id).update(actions=[SpaceModel.max_tickets.set(2)])
    clock.advance(minutes=5)
    second = pay(api, standin, ben, space_id)
    run_refund_jobs(duplicate_jobs)
    ticket = TicketModel.get(space_id, ben.id)
    assert ticket.status == "paid" and ticket.payment_intent_id == second["data"]["object"]["payment_intent"]
    assert [r["payment_intent"] for r in refunds_for(standin, space_id)] == [late["data"]["object"]["payment_intent"]]

    # Another notice of the first payment's refund (a new event) does not touch the new ticket.
    refunded = [e for e in standin.events("charge.refunded") if e["data"]["object"]["metadata"].get("buyer_id") == ben.id]
    payload = json.dumps({**refunded[0], "id": "evt_another_notice"})
    reply = api.post("/v1/stripe/webhook", raw=payload, headers={"Stripe-Signature": sign(SECRET, payload)})
    assert reply.status == 200 and reply.body["outcome"] == "refunded"
    assert TicketModel.get(space_id, ben.id).status == "paid"


# -- a webhook that dies mid-way, and the reconciliation under it ---------------------------------


class FunctionTimedOut(BaseException):
    """The Lambda runtime stopping the function at its timeout: no except or finally of ours runs."""


def redeliver_until_acted(api: Api, standin: StandIn, event: dict, within: float = 15.0):
    """Stripe's retries, until one is not answered 409 (polling; Stripe backs off for longer)."""
    deadline = time.monotonic() + within
    while (reply := deliver(api, standin, event)).status == 409:
        assert time.monotonic() < deadline, "the event stayed in progress"
        time.sleep(0.05)
    return reply


def test_a_webhook_that_dies_after_marking_the_event_is_acted_on_by_stripes_retry(shop, stripe_standin, clock,
                                                                                  monkeypatch):
    from chalice.local import LocalGateway

    from chalicelib.wiring import services

    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=3, price=600)
    buyer = make_person(api, "buyer")
    completed = pay(api, standin, buyer, space_id, deliver_now=False)

    # The webhook's Lambda has 2 s to live and is stopped while granting, after the event was marked.
    monkeypatch.setattr(LocalGateway, "MAX_LAMBDA_EXECUTION_TIME", 2)
    seats, grant = services().seats, services().seats.grant

    def dies_while_granting(*args, **kwargs):
        monkeypatch.setattr(seats, "grant", grant)
        raise FunctionTimedOut()

    monkeypatch.setattr(seats, "grant", dies_while_granting)
    with pytest.raises(FunctionTimedOut):
        deliver(api, standin, completed)
    assert TicketModel.get(space_id, buyer.id).status == "held"

    # Stripe retries at once: the event is still in progress (the dead function's time is not up).
    early = deliver(api, standin, completed)
    assert early.status == 409 and early.error_code == "request_in_progress" and early.headers["Retry-After"] == "1"
    # Once it is, a retry acts: the paid checkout becomes a ticket.
    assert redeliver_until_acted(api, standin, completed).body["outcome"] == "granted"
    assert TicketModel.get(space_id, buyer.id).status == "paid"
    assert deliver(api, standin, completed).body["outcome"] == "duplicate"
    space = SpaceModel.get(space_id)
    assert (space.seats_taken, space.tickets_held, space.tickets_sold) == (1, 0, 1)


def run_checkout_reconciliation() -> None:
    from app import app

    with Client(app) as client:
        client.lambda_.invoke("reconcile_checkouts", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def test_the_reconciliation_grants_paid_checkouts_whose_webhook_never_acted(shop, stripe_standin, clock):
    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock, max_tickets=5, price=700)
    paid, paying, lapsed = make_person(api, "paid"), make_person(api, "paying"), make_person(api, "lapsed")
    lost = pay(api, standin, paid, space_id, deliver_now=False)  # paid at Stripe; the webhook is lost
    api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=paying.token)  # still on Stripe's page
    expired_session = api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=lapsed.token).body["session_id"]
    standin.test_route(f"/_test/checkout/sessions/{expired_session}/expire_now")  # its webhook is lost too

    run_checkout_reconciliation()  # too soon: the webhooks may still be on their way
    assert {t.buyer_id: t.status for t in TicketModel.query(space_id)} == {
        paid.id: "held", paying.id: "held", lapsed.id: "held"}

    clock.advance(minutes=3)
    run_checkout_reconciliation()
    tickets = {t.buyer_id: t for t in TicketModel.query(space_id)}
    assert {b: t.status for b, t in tickets.items()} == {paid.id: "paid", paying.id: "held", lapsed.id: "expired"}
    assert tickets[paid.id].payment_intent_id == lost["data"]["object"]["payment_intent"]
    space = SpaceModel.get(space_id)
    assert (space.seats_taken, space.tickets_held, space.tickets_sold) == (2, 1, 1)

    # The lost webhook turns up after all, and the sweep runs again: nothing happens twice.
    assert deliver(api, standin, lost).body["outcome"] == "already"
    run_checkout_reconciliation()
    space = SpaceModel.get(space_id)
    assert (space.seats_taken, space.tickets_held, space.tickets_sold) == (2, 1, 1)
    assert [t["status"] for t in api.get("/v1/me/tickets", token=paid.token).body["tickets"]] == ["paid"]


def test_a_retried_checkout_with_its_idempotency_key_gets_the_same_answer(shop, stripe_standin, clock):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock)
    buyer = make_person(shop, "buyer")
    key = {"Idempotency-Key": "checkout-1"}
    first = shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=buyer.token, headers=key)
    retry = shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=buyer.token, headers=key)
    assert first.status == retry.status == 201 and retry.body == first.body
    assert retry.headers.get("Idempotent-Replayed") == "true" and SpaceModel.get(space_id).seats_taken == 1


def test_stripe_out_of_reach_is_a_503_to_retry_and_the_seat_is_not_kept(shop, stripe_standin, clock, settings):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock)
    buyer = make_person(shop, "buyer")
    unreachable = settings.model_copy(update=dict(stripe_api_base=f"http://127.0.0.1:{free_port()}",
                                                  stripe_webhook_secret=SECRET, stripe_api_key=STRIPE_KEY))
    use_services(build_services(unreachable, clock=clock, hasher=FAST_HASHER, events=RecordingPublisher(),
                                media=RecordingMedia()))

    checkout = shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=buyer.token)
    onboarding = shop.post("/v1/me/payouts/onboarding", token=make_host(shop, "other_host").token)

    for reply in (checkout, onboarding):
        assert reply.status == 503 and reply.error_code == "payments_unavailable", reply.body
        assert reply.headers["Retry-After"] == "5"
    assert SpaceModel.get(space_id).seats_taken == 0  # the hold was let go
    assert [t.status for t in TicketModel.query(space_id)] == ["expired"]  # not held, not sold


def test_the_reconciliation_waits_out_stripe_being_out_of_reach_and_grants_later(shop, stripe_standin, clock, settings):
    api, standin = shop, stripe_standin
    host = onboarded_host(api, standin)
    space_id = ticketed_space(api, host, clock)
    buyer = make_person(api, "buyer")
    pay(api, standin, buyer, space_id, deliver_now=False)  # paid at Stripe; the webhook is lost
    clock.advance(minutes=3)
    reachable = services()
    unreachable = settings.model_copy(update=dict(stripe_api_base=f"http://127.0.0.1:{free_port()}",
                                                  stripe_webhook_secret=SECRET, stripe_api_key=STRIPE_KEY))
    use_services(build_services(unreachable, clock=clock, hasher=FAST_HASHER, events=RecordingPublisher(),
                                media=RecordingMedia()))

    run_checkout_reconciliation()  # Stripe out of reach: the sweep stops quietly, the hold stays

    assert TicketModel.get(space_id, buyer.id).status == "held"
    use_services(reachable)
    run_checkout_reconciliation()
    assert TicketModel.get(space_id, buyer.id).status == "paid"


def test_a_ticketed_space_and_a_ticket_match_the_spec(shop, stripe_standin, clock):
    """``SpaceOut.ticket`` is the space's terms, not a buyer's ticket (two models once shared the name TicketOut)."""
    from tests.spec_support import check_answer

    doc = shop.get("/openapi.json").body
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock)
    space = shop.get(f"/v1/spaces/{space_id}", token=host.token)
    assert space.body["ticket"]["price_cents"] == 499
    check_answer(doc, "GET", "/v1/spaces/{space_id}", 200, space.body)
    buyer = make_person(shop, "buyer")
    assert shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=buyer.token).status == 201
    mine = shop.get("/v1/me/tickets", token=buyer.token)
    assert [t["status"] for t in mine.body["tickets"]] == ["held"]
    check_answer(doc, "GET", "/v1/me/tickets", 200, mine.body)
