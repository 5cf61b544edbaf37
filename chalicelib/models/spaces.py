"""Spaces: one item per space, carrying the fields of the contract.

``cohost_ids`` and ``speaker_ids`` are string sets changed atomically (ADD/DELETE) in the
same transaction as the participant's role, and the role limits are conditions on their
size, so the limits hold under concurrent promotions.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.errors import SpaceNotFound
from chalicelib.models.base import table_meta

SCHEDULED, LIVE, ENDED, CANCELED = "scheduled", "live", "ended", "canceled"
STATES = (SCHEDULED, LIVE, ENDED, CANCELED)
REFUNDS_DUE = "due"


class SpacesByState(GlobalSecondaryIndex["SpaceModel"]):
    """Lists and search by state, newest first (sort key: the ULID id)."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    state = UnicodeAttribute(hash_key=True)
    space_id = UnicodeAttribute(range_key=True)


class SpacesByCreator(GlobalSecondaryIndex["SpaceModel"]):
    class Meta:
        index_name = "by_creator"
        projection = AllProjection()

    creator_id = UnicodeAttribute(hash_key=True)
    space_id = UnicodeAttribute(range_key=True)


class SpacesWithRefundsDue(GlobalSecondaryIndex["SpaceModel"]):
    """Sparse: only a space that owes refunds carries ``refund_sweep``, so the sweep reads just those."""

    class Meta:
        index_name = "refunds_due"
        projection = AllProjection()

    refund_sweep = UnicodeAttribute(hash_key=True)
    space_id = UnicodeAttribute(range_key=True)


class PinAttribute(MapAttribute[str, object]):
    """What the hosts pinned: a room message (copied, so every reader of the space sees it
    without reading the chat) or a link."""

    kind = UnicodeAttribute()  # "message" or "url"
    message_id = UnicodeAttribute(null=True)
    sender_id = UnicodeAttribute(null=True)
    text = UnicodeAttribute(null=True)
    message_created_at = UTCDateTimeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    pinned_by = UnicodeAttribute()
    pinned_at = UTCDateTimeAttribute()


class SpaceModel(Model):
    Meta = table_meta("spaces")

    space_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()
    title = UnicodeAttribute()
    title_lower = UnicodeAttribute()
    creator_id = UnicodeAttribute()
    # Who holds host powers now: the creator, or the first co-host while the creator is away.
    acting_host_id = UnicodeAttribute(null=True)
    cohost_ids = UnicodeSetAttribute(null=True)
    speaker_ids = UnicodeSetAttribute(null=True)
    invited_user_ids = ListAttribute[str](null=True)
    topic_ids = ListAttribute[str](null=True)
    lang = UnicodeAttribute(default="en")
    participant_count = NumberAttribute(default=0)
    listener_count = NumberAttribute(default=0)
    subscriber_count = NumberAttribute(default=0)
    scheduled_start = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    # Set while no host and no co-host is in the room; the sweeper ends it after a while.
    unattended_since = UTCDateTimeAttribute(null=True)
    is_ticketed = BooleanAttribute(default=False)
    ticket_price_cents = NumberAttribute(null=True)
    ticket_currency = UnicodeAttribute(null=True)
    max_tickets = NumberAttribute(null=True)
    tickets_sold = NumberAttribute(default=0)
    tickets_held = NumberAttribute(default=0)
    # sold + held, in one attribute, so "never oversold" is a single condition.
    seats_taken = NumberAttribute(default=0)
    # REFUNDS_DUE while refunds are owed (set in the same write that makes them owed); the
    # time lets the sweep unmark the space only if nothing new was owed since it looked.
    # The audience tier: whether the space records (replay for 30 days) and lets participants
    # clip it; how many listeners hear it over WebRTC (capped: ``webrtc_listener_cap``) and
    # how many through HLS (listener_count is both); when its host deleted the recording.
    recording = BooleanAttribute(default=True)
    clipping = BooleanAttribute(default=True)
    webrtc_listener_count = NumberAttribute(default=0)
    hls_listener_count = NumberAttribute(default=0)
    recording_deleted_at = UTCDateTimeAttribute(null=True)
    refund_sweep = UnicodeAttribute(null=True)
    refunds_marked_at = UTCDateTimeAttribute(null=True)
    # Discovery: the pinned message or link; the listener counts the scheduled tick sampled
    # (oldest first, one a minute, the last few minutes), from which trending measures growth.
    pinned = PinAttribute(null=True)
    listener_samples = ListAttribute[float](null=True)  # numbers

    by_state = SpacesByState()
    by_creator = SpacesByCreator()
    refunds_due = SpacesWithRefundsDue()

    @classmethod
    def lookup(cls, space_id: str, consistent_read: bool = False) -> SpaceModel:
        """The space, or 404 ``space_not_found``: how every service finds a space by its id."""
        try:
            return cls.get(space_id, consistent_read=consistent_read)
        except cls.DoesNotExist as exc:
            raise SpaceNotFound() from exc

    @staticmethod
    def mark_refunds_due(now: datetime) -> list[Action]:
        """The update that puts a space in the refund sweep's index, written together with
        whatever makes its refunds owed."""
        return [SpaceModel.refund_sweep.set(REFUNDS_DUE), SpaceModel.refunds_marked_at.set(now)]

    def holds_host_powers(self, user_id: str) -> bool:
        """The creator, or the acting host (the first co-host while the creator is away)."""
        return user_id in (self.creator_id, self.acting_host_id)

    @property
    def host_ids(self) -> list[str]:
        return [self.creator_id, *sorted(self.cohost_ids or ())]
