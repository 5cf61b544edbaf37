"""Money owed back: every refund a buyer is owed, paid exactly once.

A refund is owed when a ticketed space is cancelled (every buyer) or when a payment buys
no seat (the space was cancelled or sold out while the buyer was paying). The write that
makes it owed also marks the space for the sweep, then an SQS job per payment asks Stripe
for the refund; the sweep queues again whatever a crash left unqueued.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from pynamodb.exceptions import UpdateError

from chalicelib.clock import Clock
from chalicelib.gateways.payments import Payments
from chalicelib.logs import logger
from chalicelib.models.spaces import CANCELED, REFUNDS_DUE, SpaceModel
from chalicelib.models.tickets import HELD, PAID, REFUND_PENDING, REFUNDED, TicketModel
from chalicelib.services.spaces import SpaceChange
from chalicelib.services.ticketing.ledger import TICKET, TicketLedger


def refund_job(space_id: str, buyer_id: str, payment_intent_id: str | None) -> dict[str, Any]:
    """An SQS refund job: one buyer's one payment (so a stale job cannot refund a later one)."""
    return {"space_id": space_id, "buyer_id": buyer_id, "payment_intent_id": payment_intent_id or ""}


class RefundService:
    def __init__(self, ledger: TicketLedger, clock: Clock, payments: Payments,
                 enqueue_refunds: Callable[[list[dict[str, Any]]], None]):
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._enqueue_refunds = enqueue_refunds

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
        ticket = self._ledger.find(space_id, buyer_id)
        if ticket is None or ticket.status == REFUNDED:
            return "nothing"
        if payment_intent_id is not None and (ticket.payment_intent_id or "") != payment_intent_id:
            return "nothing"
        if not ticket.payment_intent_id:  # Stripe took no payment (nothing was charged)
            logger.warning("a refund owed on a ticket with no payment", extra={"space_id": space_id, "buyer_id": buyer_id})
            self.mark_refunded(space_id, buyer_id, "")
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

    def sweep(self) -> int:
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

    def refund_seatless_payment(self, space_id: str, buyer_id: str, payment_intent_id: str, was: str, now: datetime) -> str:
        """A payment that cannot buy a seat is recorded and refunded: the ticket says so, the
        space is marked for the refund sweep in the same write, then a refund job goes out."""
        logger.warning("a payment that buys no seat: refunding", extra={"space_id": space_id, "buyer_id": buyer_id})
        gives_back_hold = [SpaceModel.seats_taken.add(-1), SpaceModel.tickets_held.add(-1)] if was == HELD else []
        refused = self._ledger.move(space_id, buyer_id, was=was, to=REFUND_PENDING, at=now, payment_intent_id=payment_intent_id,
                                    space_changes=[*gives_back_hold, *SpaceModel.mark_refunds_due(now)])
        if TICKET in refused:
            return "already"
        self._enqueue_refunds([refund_job(space_id, buyer_id, payment_intent_id)])
        return "refunding"

    def refund_banned(self, space_id: str, buyer_id: str) -> bool:
        """A ticket holder the host banned gets their money back in full (fee included, like
        every refund) and their seat is free again; True if a refund is now owed."""
        ticket = self._ledger.find(space_id, buyer_id)
        if ticket is None or ticket.status != PAID:
            return False
        now = self._clock.now()
        refused = self._ledger.move(space_id, buyer_id, was=PAID, to=REFUND_PENDING, at=now,
                                    payment_intent_id=ticket.payment_intent_id,
                                    space_changes=[SpaceModel.seats_taken.add(-1), SpaceModel.tickets_sold.add(-1),
                                                   *SpaceModel.mark_refunds_due(now)])
        if TICKET in refused:
            return False
        logger.info("a banned ticket holder is refunded", extra={"space_id": space_id, "buyer_id": buyer_id})
        self._enqueue_refunds([refund_job(space_id, buyer_id, ticket.payment_intent_id)])
        return True

    def mark_refunded(self, space_id: str, buyer_id: str, payment_intent_id: str) -> None:
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
