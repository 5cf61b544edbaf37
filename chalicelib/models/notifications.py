"""Notifications: the in-app inbox, push devices, reminders, and the index of due reminders."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class InboxByTime(LocalSecondaryIndex["NotificationModel"]):
    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    sort_at = UnicodeAttribute(range_key=True)


class NotificationModel(Model):
    """One inbox item. The key (user, kind, space) makes each notification exist once: a
    redelivered job's conditional put fails and nothing is sent twice."""

    Meta = table_meta("notifications")

    user_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)  # "<kind>#<space_id>[#<variant>]"
    sort_at = UnicodeAttribute()  # "<created_at ISO>#<key>": newest first through the index
    kind = UnicodeAttribute()
    space_id = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    data: MapAttribute = MapAttribute(null=True)
    read = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()

    by_time = InboxByTime()


class DeviceModel(Model):
    """A user's push endpoints (SNS platform endpoints), one item per user so a send batch
    reads them with BatchGetItem."""

    Meta = table_meta("devices")

    user_id = UnicodeAttribute(hash_key=True)
    endpoint_arns = UnicodeSetAttribute(null=True)


class ReminderModel(Model):
    """Someone asked to be reminded of a scheduled space."""

    Meta = table_meta("reminders")

    space_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    created_at = UTCDateTimeAttribute()


class DueReminderModel(Model):
    """Reminders by the minute they are due: the scheduler reads a few minute buckets,
    never the whole table."""

    Meta = table_meta("due_reminders")

    due_minute = UnicodeAttribute(hash_key=True)  # "YYYY-MM-DDTHH:MM" (UTC)
    key = UnicodeAttribute(range_key=True)  # "<space_id>#<kind>"
    space_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    scheduled_start = UTCDateTimeAttribute()


class SchedulerCursorModel(Model):
    """The last minute bucket the reminder sweeper finished (so missed ticks catch up)."""

    Meta = table_meta("scheduler_cursor")

    name = UnicodeAttribute(hash_key=True)
    last_minute = UnicodeAttribute()
