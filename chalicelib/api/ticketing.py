"""Ticketed spaces: payout onboarding, checkout, the Stripe webhook, tickets and buyers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import PageQuery, Strict, Timestamp
from chalicelib.models.tickets import TicketModel
from chalicelib.services.ticketing.return_urls import Client
from chalicelib.wiring import services

router = Router(__name__, tag="ticketing")


class OnboardingOut(BaseModel):
    url: str
    account_id: str


class ReturnTo(Strict):
    """Optional. Which client Stripe's page sends the person back to: the app's deep link (the
    default) or the web client's page (``#/spaces/{id}``, ``#/payouts``)."""

    client: Literal["app", "web"] = "app"


class CheckoutOut(BaseModel):
    checkout_url: str
    session_id: str


class TicketOut(BaseModel):
    space_id: str
    buyer_id: str
    status: Literal["held", "paid", "expired", "refund_pending", "refunded"]
    amount_cents: int
    fee_cents: int
    currency: str
    created_at: Timestamp | None


class TicketsOut(BaseModel):
    tickets: list[TicketOut]
    next_cursor: str | None


class BuyersOut(BaseModel):
    buyers: list[TicketOut]
    next_cursor: str | None
    sold: int
    gross_cents: int
    platform_fee_cents: int
    creator_net_cents: int


def ticket_out(t: TicketModel) -> TicketOut:
    return TicketOut(space_id=t.space_id, buyer_id=t.buyer_id, status=t.status,  # type: ignore[arg-type]
                     amount_cents=int(t.amount_cents), fee_cents=int(t.fee_cents), currency=t.currency,
                     created_at=t.created_at)


@router.route("POST", "/v1/me/payouts/onboarding", summary="Stripe Connect onboarding link for hosts",
              body=ReturnTo, body_optional=True, response=OnboardingOut, retry_later=True)
def onboarding(call: Call) -> OnboardingOut:
    url, account_id = services().payouts.onboard(call.me, Client(call.body.client))
    return OnboardingOut(url=url, account_id=account_id)


@router.route("POST", "/v1/spaces/{space_id}/tickets/checkout", summary="Buy a ticket: a Stripe Checkout page",
              body=ReturnTo, body_optional=True, response=CheckoutOut, status=201, idempotent=True, retry_later=True)
def checkout(call: Call) -> CheckoutOut:
    session_id, url = services().seats.checkout(call.me, call.params["space_id"], Client(call.body.client))
    return CheckoutOut(checkout_url=url, session_id=session_id)


@router.route("POST", "/v1/stripe/webhook", summary="Stripe events (signature verified)", auth=False, public=False)
def stripe_webhook(call: Call) -> dict[str, Any]:
    outcome = services().stripe_webhooks.handle(call.raw_body, call.headers.get("stripe-signature"),
                                                call.request.lambda_context)
    return {"received": True, "outcome": outcome}


@router.route("GET", "/v1/me/tickets", summary="My tickets", query=PageQuery, response=TicketsOut)
def my_tickets(call: Call) -> TicketsOut:
    tickets, cursor = services().seats.my_tickets(call.me, call.query.cursor, call.query.limit)
    return TicketsOut(tickets=[ticket_out(t) for t in tickets], next_cursor=cursor)


@router.route("GET", "/v1/spaces/{space_id}/buyers", summary="Who bought tickets, with totals (host)", query=PageQuery,
              response=BuyersOut)
def buyers(call: Call) -> BuyersOut:
    page = services().seats.buyers(call.me, call.params["space_id"], call.query.cursor, call.query.limit)
    return BuyersOut(buyers=[ticket_out(t) for t in page.tickets], next_cursor=page.next_cursor, sold=page.sold,
                     gross_cents=page.gross_cents, platform_fee_cents=page.fee_cents, creator_net_cents=page.net_cents)
