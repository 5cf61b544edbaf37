"""The per-space moderation log, readable by the host."""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class AuditEntryModel(Model):
    Meta = table_meta("audit")

    space_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)  # ULID: sorts by time
    at = UTCDateTimeAttribute()
    actor_id = UnicodeAttribute()
    action = UnicodeAttribute()
    target_id = UnicodeAttribute(null=True)
    details: MapAttribute = MapAttribute(null=True)
