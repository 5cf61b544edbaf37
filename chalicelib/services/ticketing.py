"""Ticketed spaces: payout onboarding, checkout with seat holds, Stripe webhooks, refunds.

The money goes buyer → platform → host with a destination charge: the host's Connect
account receives the price minus the platform fee (``PARLOR_PLATFORM_FEE_BPS``, default
300 = 3%). Seats are counted in ``SpaceModel.seats_taken`` (sold + held); a hold is a
conditional increment, so the cap is never oversold however many buyers race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import Conflict, Forbidden, InvalidSignature, InvalidState, NotHost, PayoutsNotEnabled, SoldOut
from chalicelib.gateways.payments import CheckoutRequest, Payments
from chalicelib.logs import logger
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.spaces import CANCELED, LIVE, REFUNDS_DUE, SCHEDULED, SpaceModel
from chalicelib.models.tickets import (
    EXPIRED,
    HELD,
    PAID,
    REFUND_PENDING,
    REFUNDED,
    PayoutAccountModel,
    ProcessedEventModel,
    TicketModel,
)
from chalicelib.models.transactions import Transaction
from chalicelib.services.spaces import SpaceChange
from chalicelib.settings import Settings

# Stripe needs a session to live at least 30 minutes; a minute more absorbs clock skew.
CHECKOUT_MINUTES = 31


def platform_fee(price_cents: int, fee_bps: int) -> int:
    """The platform's cut in cents: price × bps / 10,000, rounded half up (300 bps of $4.99 is 15¢)."""
    return (price_cents * fee_bps + 5_000) // 10_000


def refund_job(space_id: str, buyer_id: str, payment_intent_id: str | None) -> dict[str, Any]:
    """An SQS refund job: one buyer's one payment (so a stale job cannot refund a later one)."""
    return {"space_id": space_id, "buyer_id": buyer_id, "payment_intent_id": payment_intent_id or ""}


@dataclass(frozen=True)
class BuyersPage:
    tickets: list[TicketModel]
    next_cursor: str | None
    gross_cents: int
    fee_cents: int
    net_cents: int
    sold: int


class TicketingService:
    def __init__(self, connection: Connection, clock: Clock, settings: Settings, payments: Payments,
                 enqueue_refunds: Callable[[list[dict[str, Any]]], None]):
        self._connection = connection
        self._clock = clock
        self._settings = settings
        self._payments = payments
        self._enqueue_refunds = enqueue_refunds

    # -- hosts -------------------------------------------------------------------------------

    def onboard(self, user_id: str) -> tuple[str, str]:
        """The host's Express account (created once) and a fresh onboarding link."""
        try:
            account_id = PayoutAccountModel.get(user_id).account_id
        except DoesNotExist:
            account_id = self._payments.create_account(user_id, idempotency_key=f"account-{user_id}")
            try:
                PayoutAccountModel(user_id=user_id, account_id=account_id).save(
                    condition=PayoutAccountModel.user_id.does_not_exist())
            except PutError:
                account_id = PayoutAccountModel.get(user_id).account_id  # a concurrent request won
        return self._payments.onboarding_link(account_id, self._settings.app_return_url), account_id

    def check_can_sell(self, host_id: str) -> None:
        """TicketRules: only hosts whose payout account can take charges sell tickets."""
        try:
            if PayoutAccountModel.get(host_id).charges_enabled:
                return
        except DoesNotExist:
            pass
        raise PayoutsNotEnabled()

    # -- buyers -------------------------------------------------------------------------------

    def admits(self, space: SpaceModel, user_id: str) -> bool:
        """Admission: a paid ticket lets you in (hosts, co-hosts and guests get in anyway)."""
        if not space.is_ticketed:
            return True
        try:
            return TicketModel.get(space.space_id, user_id).status == PAID
        except DoesNotExist:
            return False

    def checkout(self, buyer_id: str, space_id: str) -> tuple[str, str]:
        """Hold a seat and open a Checkout Session; returns (session_id, checkout_url)."""
        space = SpaceModel.lookup(space_id)
        if not space.is_ticketed:
            raise InvalidState("This space is free.", code="not_ticketed")
        if space.state not in (SCHEDULED, LIVE):
            raise InvalidState(f"A {space.state} space sells no tickets.")
        if buyer_id == space.creator_id:
            raise Forbidden("Hosts do not buy tickets to their own space.", code="host_cannot_buy")
        existing = self._ticket(space_id, buyer_id)
        if existing is not None and existing.status == PAID:
            raise Conflict("You already have a ticket.", code="already_has_ticket")
        if existing is not None and existing.status == HELD and existing.session_id and existing.checkout_url:
            return existing.session_id, existing.checkout_url  # the checkout already open
        account = self._host_account(space.creator_id)
        price = int(space.ticket_price_cents or 0)
        fee = platform_fee(price, self._settings.platform_fee_bps)
        now = self._clock.now()
        self._hold(space, buyer_id, price, fee, now)
        try:
            session_id, url = self._payments.create_checkout(CheckoutRequest(
                space_id=space_id, buyer_id=buyer_id, title=space.title, price_cents=price,
                currency=space.ticket_currency or "usd", fee_cents=fee, destination=account.account_id,
                expires_at=now + timedelta(minutes=CHECKOUT_MINUTES),
                success_url=f"{self._settings.app_return_url}?space_id={space_id}&session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{self._settings.app_return_url}?space_id={space_id}",
                idempotency_key=f"checkout-{space_id}-{buyer_id}-{int(now.timestamp())}"))
        except Exception:
            self._release(space_id, buyer_id)
            raise
        TicketModel(space_id=space_id, buyer_id=buyer_id).update(actions=[
            TicketModel.session_id.set(session_id), TicketModel.checkout_url.set(url)])
        return session_id, url

    def _hold(self, space: SpaceModel, buyer_id: str, price: int, fee: int, now: datetime) -> None:
        ticket = TicketModel(space_id=space.space_id, buyer_id=buyer_id, status=HELD, amount_cents=price, fee_cents=fee,
                             currency=space.ticket_currency or "usd", created_at=now, updated_at=now)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("ticket", ticket, condition=TicketModel.buyer_id.does_not_exist()
                       | TicketModel.status.is_in(EXPIRED, REFUNDED))
                tx.change("space", SpaceModel(space_id=space.space_id),
                          [SpaceModel.seats_taken.add(1), SpaceModel.tickets_held.add(1)],
                          condition=(SpaceModel.seats_taken < int(space.max_tickets or 0))
                          & SpaceModel.state.is_in(SCHEDULED, LIVE))
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "ticket" in failed:
                raise Conflict("Your checkout is already open; try again in a moment.", code="checkout_in_progress") from exc
            if "space" in failed:
                raise SoldOut() from exc
            raise

    def _release(self, space_id: str, buyer_id: str) -> bool:
        """A hold that will not become a sale gives its seat back (once)."""
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("ticket", TicketModel(space_id=space_id, buyer_id=buyer_id),
                          [TicketModel.status.set(EXPIRED), TicketModel.updated_at.set(self._clock.now())],
                          condition=TicketModel.status == HELD)
                tx.change("space", SpaceModel(space_id=space_id),
                          [SpaceModel.seats_taken.add(-1), SpaceModel.tickets_held.add(-1)])
        except TransactWriteError as exc:
            if "ticket" in tx.failed_conditions(exc):
                return False
            raise
        return True

    def my_tickets(self, user_id: str) -> list[TicketModel]:
        return list(TicketModel.by_buyer.query(user_id, scan_index_forward=False))

    def buyers(self, host_id: str, space_id: str, cursor: str | None, limit: int) -> BuyersPage:
        space = SpaceModel.lookup(space_id)
        if space.creator_id != host_id:
            raise NotHost()
        sold = [t for t in TicketModel.query(space_id) if t.status == PAID]
        gross, fee = sum(int(t.amount_cents) for t in sold), sum(int(t.fee_cents) for t in sold)
        result = TicketModel.query(space_id, filter_condition=TicketModel.status.is_in(PAID, REFUND_PENDING, REFUNDED),
                                   limit=limit, last_evaluated_key=decode_cursor(cursor))
        return BuyersPage(list(result), encode_cursor(result.last_evaluated_key), gross, fee, gross - fee, len(sold))

    # -- Stripe webhooks ---------------------------------------------------------------------

    def handle_webhook(self, payload: bytes, signature: str | None) -> str:
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
            return self._grant(meta["space_id"], meta["buyer_id"], obj.get("payment_intent") or "")
        if kind == "checkout.session.expired":
            meta = obj.get("metadata") or {}
            return "released" if self._release(meta["space_id"], meta["buyer_id"]) else "already"
        if kind == "account.updated":
            return self._account_updated(obj)
        if kind == "charge.refunded":
            meta = obj.get("metadata") or {}
            if obj.get("refunded") and meta.get("space_id"):
                self._mark_refunded(meta["space_id"], meta["buyer_id"], obj.get("payment_intent") or "")
                return "refunded"
            return "partial"
        return "ignored"

    def _grant(self, space_id: str, buyer_id: str, payment_intent_id: str) -> str:
        """Turn the hold into a sale, once (Stripe may report the same session twice)."""
        now = self._clock.now()
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("ticket", TicketModel(space_id=space_id, buyer_id=buyer_id),
                          [TicketModel.status.set(PAID), TicketModel.payment_intent_id.set(payment_intent_id),
                           TicketModel.updated_at.set(now)], condition=TicketModel.status == HELD)
                tx.change("space", SpaceModel(space_id=space_id),
                          [SpaceModel.tickets_held.add(-1), SpaceModel.tickets_sold.add(1)],
                          condition=SpaceModel.state.is_in(SCHEDULED, LIVE))
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "ticket" in failed:
                return self._grant_after_expiry(space_id, buyer_id, payment_intent_id, now)
            if "space" in failed:  # cancelled (or over) while the buyer was paying
                return self._refund_instead(space_id, buyer_id, payment_intent_id, HELD, now)
            raise
        return "granted"

    def _grant_after_expiry(self, space_id: str, buyer_id: str, payment_intent_id: str, now: datetime) -> str:
        """A payment that completed after its hold lapsed still buys a seat if one is free."""
        ticket = self._ticket(space_id, buyer_id)
        if ticket is None or ticket.status != EXPIRED:
            return "already"  # paid (a repeated event), or already being refunded
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("ticket", ticket, [TicketModel.status.set(PAID), TicketModel.payment_intent_id.set(payment_intent_id),
                                             TicketModel.updated_at.set(now)], condition=TicketModel.status == EXPIRED)
                space = SpaceModel.get(space_id)
                tx.change("space", SpaceModel(space_id=space_id), [SpaceModel.seats_taken.add(1), SpaceModel.tickets_sold.add(1)],
                          condition=(SpaceModel.seats_taken < int(space.max_tickets or 0))
                          & SpaceModel.state.is_in(SCHEDULED, LIVE))
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "space" in failed:  # sold out meanwhile, or cancelled
                return self._refund_instead(space_id, buyer_id, payment_intent_id, EXPIRED, now)
            if "ticket" in failed:
                return "already"
            raise
        return "granted"

    def _refund_instead(self, space_id: str, buyer_id: str, payment_intent_id: str, was: str, now: datetime) -> str:
        """A payment that cannot buy a seat is recorded and refunded: the ticket says so, the
        space is marked for the refund sweep in the same write, then a refund job goes out."""
        logger.warning("a payment that buys no seat: refunding", extra={"space_id": space_id, "buyer_id": buyer_id})
        gives_back_hold = [SpaceModel.seats_taken.add(-1), SpaceModel.tickets_held.add(-1)] if was == HELD else []
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("ticket", TicketModel(space_id=space_id, buyer_id=buyer_id),
                          [TicketModel.status.set(REFUND_PENDING), TicketModel.payment_intent_id.set(payment_intent_id),
                           TicketModel.updated_at.set(now)], condition=TicketModel.status == was)
                tx.change("space", SpaceModel(space_id=space_id), [*gives_back_hold, *SpaceModel.mark_refunds_due(now)])
        except TransactWriteError as exc:
            if "ticket" in tx.failed_conditions(exc):
                return "already"
            raise
        self._enqueue_refunds([refund_job(space_id, buyer_id, payment_intent_id)])
        return "refunding"

    def _account_updated(self, account: dict[str, Any]) -> str:
        user_id = (account.get("metadata") or {}).get("parlor_user_id")
        if not user_id:
            return "ignored"
        try:
            PayoutAccountModel(user_id=user_id).update(actions=[
                PayoutAccountModel.charges_enabled.set(bool(account.get("charges_enabled"))),
                PayoutAccountModel.payouts_enabled.set(bool(account.get("payouts_enabled")))],
                condition=PayoutAccountModel.account_id == account["id"])
        except UpdateError:
            return "ignored"
        return "account_updated"

    # -- cancel → refunds ------------------------------------------------------------------------

    def space_changed(self, change: SpaceChange, space: SpaceModel, previous_start: datetime | None) -> None:
        """SpaceObserver: a cancelled ticketed space refunds every buyer, through SQS jobs."""
        if change is not SpaceChange.CANCELED or not space.is_ticketed:
            return
        jobs = [refund_job(t.space_id, t.buyer_id, t.payment_intent_id)
                for t in TicketModel.query(space.space_id, consistent_read=True) if t.status in (PAID, REFUND_PENDING)]
        for ticket in TicketModel.query(space.space_id, filter_condition=TicketModel.status == HELD):
            if ticket.session_id:
                self._payments.expire_checkout(ticket.session_id)  # its expired event releases the seat
        if jobs:
            self._enqueue_refunds(jobs)

    def refund(self, space_id: str, buyer_id: str, payment_intent_id: str | None = None) -> str:
        """One buyer's refund of one payment. Safe to run again: the Stripe idempotency key is
        the payment's, so a crash after Stripe refunded and before we recorded it refunds
        nobody twice. A job for an earlier payment (a duplicate that arrives after the buyer
        was refunded and bought again) finds a different payment on the ticket and does nothing."""
        ticket = self._ticket(space_id, buyer_id)
        if ticket is None or ticket.status == REFUNDED:
            return "nothing"
        if payment_intent_id is not None and (ticket.payment_intent_id or "") != payment_intent_id:
            return "nothing"
        if not ticket.payment_intent_id:  # Stripe took no payment (nothing was charged)
            logger.warning("a refund owed on a ticket with no payment", extra={"space_id": space_id, "buyer_id": buyer_id})
            self._mark_refunded(space_id, buyer_id, "")
            return "nothing"
        if ticket.status == PAID:
            ticket.update(actions=[TicketModel.status.set(REFUND_PENDING), TicketModel.updated_at.set(self._clock.now())],
                          condition=TicketModel.status == PAID)
        elif ticket.status != REFUND_PENDING:
            return "nothing"
        refund_id = self._payments.refund(ticket.payment_intent_id, f"refund-{ticket.payment_intent_id}",
                                          {"space_id": space_id, "buyer_id": buyer_id})
        ticket.update(actions=[TicketModel.refund_id.set(refund_id)])
        return refund_id

    def sweep_refunds(self) -> int:
        """The safety net under refunds owed: if the process died between the write that made
        a refund owed (a cancel, a payment that bought no seat) and queueing its job, the space
        is still marked, and this queues the jobs again (each refund is idempotent). A space is
        unmarked once every refund has gone to Stripe and been confirmed. Returns jobs queued."""
        queued = 0
        for space in SpaceModel.refunds_due.query(REFUNDS_DUE):
            tickets = list(TicketModel.query(space.space_id, consistent_read=True))
            owed = [t for t in tickets if (t.status == REFUND_PENDING and not t.refund_id)
                    or (t.status == PAID and space.state == CANCELED)]
            if owed:
                self._enqueue_refunds([refund_job(t.space_id, t.buyer_id, t.payment_intent_id) for t in owed])
                queued += len(owed)
            elif not any(t.status == REFUND_PENDING for t in tickets):  # every refund confirmed
                try:
                    SpaceModel(space_id=space.space_id).update(
                        actions=[SpaceModel.refund_sweep.remove(), SpaceModel.refunds_marked_at.remove()],
                        condition=SpaceModel.refunds_marked_at == space.refunds_marked_at)
                except UpdateError:
                    pass  # newly owed since we looked: the next sweep sees it
        return queued

    def _mark_refunded(self, space_id: str, buyer_id: str, payment_intent_id: str) -> None:
        """The ticket is refunded, if it is still the payment that was refunded."""
        condition = TicketModel.status.is_in(PAID, REFUND_PENDING)
        if payment_intent_id:
            condition &= TicketModel.payment_intent_id == payment_intent_id
        try:
            TicketModel(space_id=space_id, buyer_id=buyer_id).update(
                actions=[TicketModel.status.set(REFUNDED), TicketModel.updated_at.set(self._clock.now())],
                condition=condition)
        except UpdateError:
            pass

    def _ticket(self, space_id: str, buyer_id: str) -> TicketModel | None:
        try:
            return TicketModel.get(space_id, buyer_id, consistent_read=True)
        except DoesNotExist:
            return None

    def _host_account(self, host_id: str) -> PayoutAccountModel:
        try:
            return PayoutAccountModel.get(host_id)
        except DoesNotExist as exc:
            raise PayoutsNotEnabled("The host cannot take payments yet.") from exc
