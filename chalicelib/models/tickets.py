"""Ticketing: hosts' payout accounts and tickets (one per buyer per space)."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import table_meta

HELD, PAID, EXPIRED, REFUND_PENDING, REFUNDED = "held", "paid", "expired", "refund_pending", "refunded"


class PayoutAccountModel(Model):
    """A host's Stripe Connect Express account."""

    Meta = table_meta("payout_accounts")

    user_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    charges_enabled = BooleanAttribute(default=False)
    payouts_enabled = BooleanAttribute(default=False)


class TicketsByBuyer(GlobalSecondaryIndex["TicketModel"]):
    class Meta:
        index_name = "by_buyer"
        projection = AllProjection()

    buyer_id = UnicodeAttribute(hash_key=True)
    space_id = UnicodeAttribute(range_key=True)


class OpenHolds(GlobalSecondaryIndex["TicketModel"]):
    """Sparse: only a held ticket carries ``open_hold``, so the checkout reconciliation reads
    the open holds alone, oldest first."""

    class Meta:
        index_name = "open_holds"
        projection = AllProjection()

    open_hold = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class TicketModel(Model):
    Meta = table_meta("tickets")

    space_id = UnicodeAttribute(hash_key=True)
    buyer_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    session_id = UnicodeAttribute(null=True)
    checkout_url = UnicodeAttribute(null=True)
    payment_intent_id = UnicodeAttribute(null=True)
    refund_id = UnicodeAttribute(null=True)
    amount_cents = NumberAttribute()
    fee_cents = NumberAttribute()
    currency = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    open_hold = UnicodeAttribute(null=True)  # HELD while the ticket is a hold (the OpenHolds index), else absent

    by_buyer = TicketsByBuyer()
    open_holds = OpenHolds()

