"""Seats: checkout with seat holds, a paid hold becoming a ticket, and who a ticket admits.

The money goes buyer → platform → host with a destination charge: the host's Connect
account receives the price minus the platform fee (``PARLOR_PLATFORM_FEE_BPS``, default
300 = 3%). Seats are counted in ``SpaceModel.seats_taken`` (sold + held); a hold is a
conditional increment, so the cap is never oversold however many buyers race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.expressions.condition import Condition

from chalicelib.clock import Clock
from chalicelib.errors import Banned, Conflict, Forbidden, InvalidState, NotHost, SoldOut
from chalicelib.gateways.payments import CheckoutRequest, CheckoutSession, Payments
from chalicelib.logs import logger
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.participants import BANNED, ParticipantModel
from chalicelib.models.spaces import LIVE, SCHEDULED, SpaceModel
from chalicelib.models.tickets import EXPIRED, HELD, PAID, REFUND_PENDING, REFUNDED, TicketModel
from chalicelib.services.ticketing.ledger import SPACE, TICKET, TicketLedger
from chalicelib.services.ticketing.payouts import PayoutService
from chalicelib.services.ticketing.refunds import RefundService
from chalicelib.services.ticketing.return_urls import Client, ReturnUrls
from chalicelib.settings import Settings

SELLING = (SCHEDULED, LIVE)

# Stripe needs a session to live at least 30 minutes; a minute more absorbs clock skew.
CHECKOUT_MINUTES = 31


def platform_fee(price_cents: int, fee_bps: int) -> int:
    """The platform's cut in cents: price × bps / 10,000, rounded half up (300 bps of $4.99 is 15¢)."""
    return (price_cents * fee_bps + 5_000) // 10_000


@dataclass(frozen=True)
class BuyersPage:
    tickets: list[TicketModel]
    next_cursor: str | None
    gross_cents: int
    fee_cents: int
    net_cents: int
    sold: int


class SeatService:
    def __init__(self, ledger: TicketLedger, clock: Clock, settings: Settings, payments: Payments,
                 payouts: PayoutService, refunds: RefundService):
        self._ledger = ledger
        self._clock = clock
        self._settings = settings
        self._payments = payments
        self._payouts = payouts
        self._refunds = refunds

    def admits(self, space: SpaceModel, user_id: str) -> bool:
        """Admission: a paid ticket lets you in (hosts, co-hosts and guests get in anyway)."""
        if not space.is_ticketed:
            return True
        ticket = self._ledger.find(space.space_id, user_id)  # consistent: a buyer who just paid gets in
        return ticket is not None and ticket.status == PAID

    def checkout(self, buyer_id: str, space_id: str, client: Client = Client.APP) -> tuple[str, str]:
        """Hold a seat and open a Checkout Session that returns to ``client``; returns
        (session_id, checkout_url)."""
        success_url, cancel_url = ReturnUrls(self._settings.app_return_url, self._settings.web_url).checkout(space_id, client)
        space = SpaceModel.lookup(space_id)
        participant = ParticipantModel.find(space_id, buyer_id)
        if participant is not None and participant.status == BANNED:
            raise Banned("The host banned you from this space.")
        if not space.is_ticketed:
            raise InvalidState("This space is free.", code="not_ticketed")
        if space.state not in SELLING:
            raise InvalidState(f"A {space.state} space sells no tickets.")
        if buyer_id == space.creator_id:
            raise Forbidden("Hosts do not buy tickets to their own space.", code="host_cannot_buy")
        existing = self._ledger.find(space_id, buyer_id)
        if existing is not None and existing.status == PAID:
            raise Conflict("You already have a ticket.", code="already_has_ticket")
        if existing is not None and existing.status == HELD and existing.session_id and existing.checkout_url:
            return existing.session_id, existing.checkout_url  # the checkout already open
        destination = self._payouts.destination(space.creator_id)
        price = int(space.ticket_price_cents or 0)
        fee = platform_fee(price, self._settings.platform_fee_bps)
        now = self._clock.now()
        self._hold(space, buyer_id, price, fee, now)
        try:
            session_id, url = self._payments.create_checkout(CheckoutRequest(
                space_id=space_id, buyer_id=buyer_id, title=space.title, price_cents=price,
                currency=space.ticket_currency or "usd", fee_cents=fee, destination=destination,
                expires_at=now + timedelta(minutes=CHECKOUT_MINUTES),
                success_url=success_url, cancel_url=cancel_url,
                idempotency_key=f"checkout-{space_id}-{buyer_id}-{int(now.timestamp())}"))
        except Exception:
            self.release(space_id, buyer_id)
            raise
        TicketModel(space_id=space_id, buyer_id=buyer_id).update(actions=[
            TicketModel.session_id.set(session_id), TicketModel.checkout_url.set(url)])
        return session_id, url

    def _hold(self, space: SpaceModel, buyer_id: str, price: int, fee: int, now: datetime) -> None:
        ticket = TicketModel(space_id=space.space_id, buyer_id=buyer_id, status=HELD, amount_cents=price, fee_cents=fee,
                             currency=space.ticket_currency or "usd", created_at=now, updated_at=now, open_hold=HELD)
        refused = self._ledger.hold(ticket, [SpaceModel.seats_taken.add(1), SpaceModel.tickets_held.add(1)],
                                    _a_seat_is_free(space))
        if TICKET in refused:
            raise Conflict("Your checkout is already open; try again in a moment.", code="checkout_in_progress")
        if SPACE in refused:
            raise SoldOut()

    def release(self, space_id: str, buyer_id: str) -> bool:
        """A hold that will not become a sale gives its seat back (once)."""
        refused = self._ledger.move(space_id, buyer_id, was=HELD, to=EXPIRED, at=self._clock.now(),
                                    space_changes=[SpaceModel.seats_taken.add(-1), SpaceModel.tickets_held.add(-1)])
        return TICKET not in refused

    def settle(self, space_id: str, buyer_id: str, session: CheckoutSession) -> str:
        """What Stripe reports of a buyer's Checkout Session decides their ticket: a session
        paid in full, in the ticket's price and currency, grants it; one still being paid
        (an asynchronous method) waits; anything else grants nothing and is logged."""
        if session.payment_status != "paid":
            return "awaiting_payment"
        ticket = self._ledger.find(space_id, buyer_id)
        if ticket is not None and (session.amount_total != ticket.amount_cents
                                   or session.currency.lower() != (ticket.currency or "").lower()):
            logger.error("checkout paid a price other than the ticket's: not granted", extra={
                "space_id": space_id, "buyer_id": buyer_id, "session_id": session.id, "amount_total": session.amount_total,
                "currency": session.currency, "ticket_amount": ticket.amount_cents, "ticket_currency": ticket.currency})
            return "mismatch"
        return self.grant(space_id, buyer_id, session.payment_intent_id)

    def grant(self, space_id: str, buyer_id: str, payment_intent_id: str) -> str:
        """Turn the hold into a sale, once (Stripe may report the same session twice)."""
        now = self._clock.now()
        refused = self._ledger.move(space_id, buyer_id, was=HELD, to=PAID, at=now, payment_intent_id=payment_intent_id,
                                    space_changes=[SpaceModel.tickets_held.add(-1), SpaceModel.tickets_sold.add(1)],
                                    space_condition=SpaceModel.state.is_in(*SELLING))
        if TICKET in refused:
            return self._grant_after_expiry(space_id, buyer_id, payment_intent_id, now)
        if SPACE in refused:  # cancelled (or over) while the buyer was paying
            return self._refunds.refund_seatless_payment(space_id, buyer_id, payment_intent_id, HELD, now)
        return "granted"

    def _grant_after_expiry(self, space_id: str, buyer_id: str, payment_intent_id: str, now: datetime) -> str:
        """A payment that completed after its hold lapsed still buys a seat if one is free."""
        ticket = self._ledger.find(space_id, buyer_id)
        if ticket is None or ticket.status != EXPIRED:
            return "already"  # paid (a repeated event), or already being refunded
        refused = self._ledger.move(space_id, buyer_id, was=EXPIRED, to=PAID, at=now, payment_intent_id=payment_intent_id,
                                    space_changes=[SpaceModel.seats_taken.add(1), SpaceModel.tickets_sold.add(1)],
                                    space_condition=_a_seat_is_free(SpaceModel.lookup(space_id)))
        if SPACE in refused:  # sold out meanwhile, or cancelled
            return self._refunds.refund_seatless_payment(space_id, buyer_id, payment_intent_id, EXPIRED, now)
        if TICKET in refused:
            return "already"
        return "granted"

    def my_tickets(self, user_id: str, cursor: str | None, limit: int) -> tuple[list[TicketModel], str | None]:
        """A page of my tickets, newest space first."""
        result = TicketModel.by_buyer.query(user_id, scan_index_forward=False, limit=limit,
                                            last_evaluated_key=decode_cursor(cursor, TicketModel.by_buyer))
        return list(result), encode_cursor(result.last_evaluated_key)

    def buyers(self, host_id: str, space_id: str, cursor: str | None, limit: int) -> BuyersPage:
        space = SpaceModel.lookup(space_id)
        if space.creator_id != host_id:
            raise NotHost()
        sold = [t for t in TicketModel.query(space_id) if t.status == PAID]
        gross, fee = sum(int(t.amount_cents) for t in sold), sum(int(t.fee_cents) for t in sold)
        result = TicketModel.query(space_id, filter_condition=TicketModel.status.is_in(PAID, REFUND_PENDING, REFUNDED),
                                   limit=limit, last_evaluated_key=decode_cursor(cursor, TicketModel))
        return BuyersPage(list(result), encode_cursor(result.last_evaluated_key), gross, fee, gross - fee, len(sold))


def _a_seat_is_free(space: SpaceModel) -> Condition:
    """The space still sells and has a seat left under its cap (sold + held)."""
    return (SpaceModel.seats_taken < int(space.max_tickets or 0)) & SpaceModel.state.is_in(*SELLING)
