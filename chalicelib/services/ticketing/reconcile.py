"""The checkout reconciliation: no buyer is left paid without a ticket.

Stripe's webhook is the fast path from a paid Checkout Session to a ticket; this sweep is
the net under it (a webhook lost, a Lambda that died mid-way, an endpoint down for days).
It asks Stripe about every hold old enough to have heard back: a session Stripe reports
complete and paid is granted, one it reports expired gives its seat back, an open one is
left alone. Each step is the same conditional ledger move the webhook makes, so the sweep
and a late webhook never grant or release twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import stripe

from chalicelib.clock import Clock
from chalicelib.errors import Unavailable
from chalicelib.gateways.payments import Payments
from chalicelib.logs import logger
from chalicelib.models.tickets import HELD, TicketModel
from chalicelib.services.ticketing.seats import CHECKOUT_MINUTES, SeatService

# A hold younger than this is most likely still being paid, or its webhook is on its way.
SETTLE_TIME = timedelta(minutes=2)


@dataclass
class Reconciled:
    granted: list[str] = field(default_factory=list)  # "space_id/buyer_id"
    released: list[str] = field(default_factory=list)
    open: int = 0


class CheckoutReconciler:
    def __init__(self, clock: Clock, payments: Payments, seats: SeatService):
        self._clock = clock
        self._payments = payments
        self._seats = seats

    def sweep(self) -> Reconciled:
        now = self._clock.now()
        done = Reconciled()
        for ticket in TicketModel.open_holds.query(HELD, TicketModel.created_at < now - SETTLE_TIME):
            who = f"{ticket.space_id}/{ticket.buyer_id}"
            if not ticket.session_id:  # died between the hold and Stripe's session: nobody could pay it
                if ticket.created_at < now - timedelta(minutes=CHECKOUT_MINUTES) and self._seats.release(
                        ticket.space_id, ticket.buyer_id):
                    done.released.append(who)
                continue
            try:
                session = self._payments.checkout_session(ticket.session_id)
            except stripe.StripeError as exc:  # one session Stripe cannot tell us about holds up no other
                logger.warning("checkout session not retrieved", extra={"session_id": ticket.session_id, "error": str(exc)})
                continue
            except Unavailable as exc:  # Stripe out of reach or rate-limiting us: the next sweep goes on
                logger.warning("checkout reconciliation paused", extra={"error": str(exc)})
                break
            if session.paid:
                outcome = self._seats.settle(ticket.space_id, ticket.buyer_id, session)
                logger.warning("a paid checkout had no ticket: reconciled", extra={
                    "space_id": ticket.space_id, "buyer_id": ticket.buyer_id, "outcome": outcome})
                if outcome != "mismatch":
                    done.granted.append(who)
            elif session.status == "expired":
                if self._seats.release(ticket.space_id, ticket.buyer_id):
                    done.released.append(who)
            else:
                done.open += 1
        return done
