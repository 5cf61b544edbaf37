"""Stripe's webhook: each event verified, handled once, and handed to the service it concerns.

Stripe delivers an event at least once and retries until we answer 2xx, so the event id is
recorded before acting (a second delivery is a ``duplicate``) and the record is deleted
when acting fails, so that Stripe's retry acts again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError

from chalicelib.clock import Clock
from chalicelib.errors import InvalidSignature
from chalicelib.gateways.payments import Payments
from chalicelib.models.tickets import ProcessedEventModel
from chalicelib.services.ticketing.payouts import PayoutService
from chalicelib.services.ticketing.refunds import RefundService
from chalicelib.services.ticketing.seats import SeatService


class StripeWebhooks:
    def __init__(self, clock: Clock, payments: Payments, payouts: PayoutService, seats: SeatService,
                 refunds: RefundService):
        self._clock = clock
        self._payments = payments
        self._payouts = payouts
        self._seats = seats
        self._refunds = refunds

    def handle(self, payload: bytes, signature: str | None) -> str:
        """Verify, dedupe by event id, then act. Returns what was done (for logs and tests)."""
        try:
            event = self._payments.parse_webhook(payload, signature)
        except ValueError as exc:
            raise InvalidSignature() from exc
        marker = ProcessedEventModel(event_id=event["id"], kind=event["type"],
                                     expires_at=self._clock.now() + timedelta(days=30))
        try:
            marker.save(condition=ProcessedEventModel.event_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return "duplicate"
            raise
        try:
            return self._act(event["type"], event["data"]["object"])
        except Exception:
            try:
                marker.delete()  # let Stripe's retry try again
            except DeleteError:
                pass
            raise

    def _act(self, kind: str, obj: dict[str, Any]) -> str:
        if kind == "checkout.session.completed":
            meta = obj.get("metadata") or {}
            return self._seats.grant(meta["space_id"], meta["buyer_id"], obj.get("payment_intent") or "")
        if kind == "checkout.session.expired":
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
