"""Stripe, through the official SDK: Connect onboarding, Checkout, refunds, webhook checks.

Pointed at real Stripe (test or live keys) or, offline, at the local stand-in by
``PARLOR_STRIPE_API_BASE``. Every create carries an idempotency key, so a retried request
never charges, refunds or creates twice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ParamSpec, TypeVar

import stripe

from chalicelib.errors import Unavailable

P = ParamSpec("P")
R = TypeVar("R")


def _reachable(call: Callable[P, R]) -> Callable[P, R]:
    """Stripe out of reach (network, or its rate limit) is a 503 the client retries, not a 500;
    in a queue job it fails the message, which SQS delivers again."""

    @functools.wraps(call)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise Unavailable("Payments are unreachable; retry shortly.", code="payments_unavailable",
                              retry_after=5) from exc

    return wrapper


@dataclass(frozen=True)
class CheckoutRequest:
    space_id: str
    buyer_id: str
    title: str
    price_cents: int
    currency: str
    fee_cents: int
    destination: str
    expires_at: datetime
    success_url: str
    cancel_url: str
    idempotency_key: str


@dataclass(frozen=True)
class CheckoutSession:
    """What Stripe says of a Checkout Session now: ``open``, ``complete`` or ``expired``, and whether it was paid."""

    id: str
    status: str
    payment_status: str
    payment_intent_id: str
    amount_total: int | None = None
    currency: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")


class Payments:
    def __init__(self, api_key: str, webhook_secret: str, api_base: str = ""):
        addresses: Any = {"api": api_base} if api_base else {}
        self._client = stripe.StripeClient(api_key, base_addresses=addresses)
        # The platform's endpoint and its Connect endpoint (hosts' account.updated) each have
        # their own signing secret: PARLOR_STRIPE_WEBHOOK_SECRET lists them, comma-separated.
        self._webhook_secrets = [secret.strip() for secret in webhook_secret.split(",") if secret.strip()]

    @_reachable
    def create_account(self, user_id: str, idempotency_key: str) -> str:
        account = self._client.v1.accounts.create(
            params={"type": "express", "metadata": {"parlor_user_id": user_id},
                    "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}}},
            options={"idempotency_key": idempotency_key})
        return str(account.id)

    @_reachable
    def onboarding_link(self, account_id: str, return_url: str) -> str:
        link = self._client.v1.account_links.create(params={
            "account": account_id, "refresh_url": return_url, "return_url": return_url, "type": "account_onboarding"})
        return str(link.url)

    @_reachable
    def create_checkout(self, request: CheckoutRequest) -> tuple[str, str]:
        """A Checkout Session for one ticket, paid to the host with the platform's fee kept."""
        metadata = {"space_id": request.space_id, "buyer_id": request.buyer_id}
        session = self._client.v1.checkout.sessions.create(params={
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": request.currency, "unit_amount": request.price_cents,
                "product_data": {"name": f"Ticket: {request.title}"}}}],
            "payment_intent_data": {"application_fee_amount": request.fee_cents,
                                    "transfer_data": {"destination": request.destination}, "metadata": metadata},
            "metadata": metadata,
            "client_reference_id": f"{request.space_id}:{request.buyer_id}",
            "expires_at": int(request.expires_at.timestamp()),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }, options={"idempotency_key": request.idempotency_key})
        return str(session.id), str(session.url)

    @_reachable
    def checkout_session(self, session_id: str) -> CheckoutSession:
        session = self._client.v1.checkout.sessions.retrieve(session_id)
        return CheckoutSession(id=str(session.id), status=str(session.status), payment_status=str(session.payment_status),
                               payment_intent_id=str(session.payment_intent or ""), amount_total=session.amount_total,
                               currency=str(session.currency or ""))

    @_reachable
    def expire_checkout(self, session_id: str) -> None:
        try:
            self._client.v1.checkout.sessions.expire(session_id)
        except stripe.InvalidRequestError:
            pass  # already complete or expired

    @_reachable
    def refund(self, payment_intent_id: str, idempotency_key: str, metadata: dict[str, str]) -> str:
        """Refund the whole payment, taking the fee back and reversing the transfer to the host."""
        refund = self._client.v1.refunds.create(params={
            "payment_intent": payment_intent_id, "refund_application_fee": True, "reverse_transfer": True,
            "metadata": metadata}, options={"idempotency_key": idempotency_key})
        return str(refund.id)

    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, if Stripe's signature over this exact payload is valid for one of the
        endpoints' secrets (else ValueError)."""
        problem = "no webhook secret is configured"
        for secret in self._webhook_secrets:
            try:
                return stripe.Webhook.construct_event(payload, signature or "", secret).to_dict()
            except stripe.SignatureVerificationError as exc:
                problem = str(exc)
        raise ValueError(problem)
