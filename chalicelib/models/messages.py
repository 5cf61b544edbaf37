"""Chat messages of a space (room and direct), and the per-user send throttle."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class MessageModel(Model):
    Meta = table_meta("messages")

    space_id = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)  # ULID: sorts by time
    sender_id = UnicodeAttribute()
    to_user_id = UnicodeAttribute(null=True)  # set for a direct message
    text = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class ChatThrottleModel(Model):
    """When a user last sent something of a kind in a space; the rate limit is a condition on it."""

    Meta = table_meta("chat_throttle")

    key = UnicodeAttribute(hash_key=True)  # "<space_id>#<user_id>#<kind>"
    last_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()

    @staticmethod
    def key_for(space_id: str, user_id: str, kind: str) -> str:
        return f"{space_id}#{user_id}#{kind}"
