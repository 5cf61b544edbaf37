"""Issue 15, money: only a Checkout Session paid in full, in the ticket's price and currency,
grants a ticket; a user the host banned cannot buy one. Each attack comes from outside:
HTTP, and Stripe events signed with the webhook secret as Stripe would sign them."""

from __future__ import annotations

import json

from chalicelib.models.spaces import SpaceModel
from chalicelib.models.tickets import TicketModel
from local.stripe_standin import sign
from tests.api.rooms_support import make_person
from tests.api.test_ticketing import (
    SECRET,
    deliver_refund_notices,
    onboarded_host,
    pay,
    refund_bodies,
    refunds_for,
    run_refund_jobs,
    ticketed_space,
)


def _signed_event(api, kind: str, session: dict) -> object:
    """Stripe delivering ``kind`` for ``session`` (a real signature with the endpoint's secret)."""
    event = {"id": f"evt_{kind}_{session['id']}", "object": "event", "type": kind, "data": {"object": session}}
    payload = json.dumps(event)
    return api.post("/v1/stripe/webhook", raw=payload, headers={"Stripe-Signature": sign(SECRET, payload)})


def _completed_session(api, standin, space_id: str, buyer) -> dict:
    """A session the buyer paid at Stripe (its own completed event, not delivered)."""
    return pay(api, standin, buyer, space_id, deliver_now=False)["data"]["object"]


def _ticket(space_id: str, buyer) -> str:
    return TicketModel.get(space_id, buyer.id).status


def test_a_session_paid_for_another_amount_or_currency_grants_nothing(shop, stripe_standin, clock):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock, max_tickets=5, price=1500)
    cheap, foreign = make_person(shop, "cheap"), make_person(shop, "foreign")
    for buyer, change in ((cheap, {"amount_total": 1}), (foreign, {"currency": "jpy"})):
        session = {**_completed_session(shop, stripe_standin, space_id, buyer), **change}
        reply = _signed_event(shop, "checkout.session.completed", session)
        assert reply.status == 200 and reply.body["outcome"] == "mismatch"
        assert _ticket(space_id, buyer) == "held"  # no ticket; the hold lapses as any unpaid one
    assert SpaceModel.get(space_id).tickets_sold == 0


def test_a_completed_but_unpaid_session_waits_for_its_payment_to_succeed_or_fail(shop, stripe_standin, clock):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock, max_tickets=5)
    paying, failing = make_person(shop, "paying"), make_person(shop, "failing")
    for buyer in (paying, failing):
        session = {**_completed_session(shop, stripe_standin, space_id, buyer), "payment_status": "unpaid"}
        assert _signed_event(shop, "checkout.session.completed", session).body["outcome"] == "awaiting_payment"
        assert _ticket(space_id, buyer) == "held"

    succeeded = {**_completed_session_of(paying, space_id), "payment_status": "paid"}
    assert _signed_event(shop, "checkout.session.async_payment_succeeded", succeeded).body["outcome"] == "granted"
    failed = {**_completed_session_of(failing, space_id), "payment_status": "unpaid"}
    assert _signed_event(shop, "checkout.session.async_payment_failed", failed).body["outcome"] == "released"

    assert (_ticket(space_id, paying), _ticket(space_id, failing)) == ("paid", "expired")
    space = SpaceModel.get(space_id)
    assert (space.tickets_sold, space.tickets_held, space.seats_taken) == (1, 0, 1)


def _completed_session_of(buyer, space_id: str) -> dict:
    """The session the buyer's ticket points at, as Stripe would describe it once paid."""
    ticket = TicketModel.get(space_id, buyer.id)
    return {"id": ticket.session_id, "object": "checkout.session", "status": "complete", "amount_total": ticket.amount_cents,
            "currency": ticket.currency, "payment_intent": f"pi_{buyer.id}",
            "metadata": {"space_id": space_id, "buyer_id": buyer.id}}


def test_someone_the_host_banned_cannot_start_a_checkout(shop, stripe_standin, clock):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock)
    troll = make_person(shop, "troll")
    assert shop.delete(f"/v1/spaces/{space_id}/participants/{troll.id}?ban=true", token=host.token).status == 200

    reply = shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=troll.token)

    assert reply.status == 403 and reply.error_code == "banned"
    assert SpaceModel.get(space_id).seats_taken == 0
    assert [t.buyer_id for t in TicketModel.query(space_id)] == []


def test_a_paid_ticket_holder_the_host_bans_is_refunded_in_full_and_the_seat_is_free_again(shop, stripe_standin, clock):
    host = onboarded_host(shop, stripe_standin)
    space_id = ticketed_space(shop, host, clock, max_tickets=1, price=1_000)
    troll, fan = make_person(shop, "troll"), make_person(shop, "fan")
    pay(shop, stripe_standin, troll, space_id)
    assert shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=fan.token).error_code == "sold_out"

    assert shop.delete(f"/v1/spaces/{space_id}/participants/{troll.id}?ban=true", token=host.token).status == 200

    run_refund_jobs(refund_bodies(), times=2)  # SQS may deliver the job twice: one refund
    (charge,) = refunds_for(stripe_standin, space_id)
    assert charge["refunded"] and charge["amount_refunded"] == 1_000
    deliver_refund_notices(shop, stripe_standin, space_id)
    assert [t["status"] for t in shop.get("/v1/me/tickets", token=troll.token).body["tickets"]] == ["refunded"]
    assert shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=fan.token).status == 201  # the seat is free
    assert shop.post(f"/v1/spaces/{space_id}/tickets/checkout", token=troll.token).error_code == "banned"
