"""Stripe's webhook: each event verified, handled once, and handed to the service it concerns.

Stripe delivers an event at least once and retries until we answer 2xx. Each event is
handled once by its id through the idempotency table: the record says *in progress* while
we act, with an expiry at the moment the Lambda would be stopped, so a function that
crashes or times out mid-way does not turn every retry into a "duplicate" (a retry inside
that window is answered 409 and Stripe tries again later). A repeat of a handled event is
a ``duplicate``. The checkout reconciliation (``reconcile``) is the net under all of it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.errors import InvalidSignature
from chalicelib.gateways.payments import CheckoutSession, Payments
from chalicelib.services.idempotency import Idempotency, Purpose
from chalicelib.services.ticketing.payouts import PayoutService
from chalicelib.services.ticketing.refunds import RefundService
from chalicelib.services.ticketing.seats import SeatService

# Stripe retries an event for up to three days; its id is remembered well past that.
STRIPE_EVENTS = Purpose(name="stripe-event", key_fields="id", kept_for=timedelta(days=30))


class StripeWebhooks:
    def __init__(self, payments: Payments, payouts: PayoutService, seats: SeatService, refunds: RefundService,
                 idempotency: Idempotency):
        self._payments = payments
        self._payouts = payouts
        self._seats = seats
        self._refunds = refunds
        self._idempotency = idempotency

    def handle(self, payload: bytes, signature: str | None, lambda_context: Any = None) -> str:
        """Verify, then act once per event id. Returns what was done (for logs and tests)."""
        try:
            event = self._payments.parse_webhook(payload, signature)
        except ValueError as exc:
            raise InvalidSignature() from exc
        return self._idempotency.once(STRIPE_EVENTS, lambda: self._act(event["type"], event["data"]["object"]),
                                      {"id": event["id"]}, lambda_context, on_replay=lambda first: "duplicate")

    def _act(self, kind: str, obj: dict[str, Any]) -> str:
        if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            meta = obj.get("metadata") or {}
            return self._seats.settle(meta["space_id"], meta["buyer_id"], _session(obj))
        if kind in ("checkout.session.expired", "checkout.session.async_payment_failed"):
            meta = obj.get("metadata") or {}
            return "released" if self._seats.release(meta["space_id"], meta["buyer_id"]) else "already"
        if kind == "account.updated":
            return self._payouts.account_updated(obj)
        if kind == "charge.refunded":
            meta = obj.get("metadata") or {}
            if obj.get("refunded") and meta.get("space_id"):
                self._refunds.mark_refunded(meta["space_id"], meta["buyer_id"], obj.get("payment_intent") or "")
                return "refunded"
            return "partial"
        return "ignored"


def _session(obj: dict[str, Any]) -> CheckoutSession:
    """The Checkout Session an event carries, as the payments gateway describes one."""
    return CheckoutSession(id=str(obj.get("id") or ""), status=str(obj.get("status") or ""),
                           payment_status=str(obj.get("payment_status") or ""),
                           payment_intent_id=str(obj.get("payment_intent") or ""),
                           amount_total=obj.get("amount_total"), currency=str(obj.get("currency") or ""))
