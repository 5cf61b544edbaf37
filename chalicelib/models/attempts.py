"""Attempt counters: how often something was tried (a sign-in that failed, a sign-up) by one
subject (a handle, a source address) in one fixed window. The throttle is a condition on them."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class AttemptCounterModel(Model):
    Meta = table_meta("attempt_counters")

    # One item per window: a new window starts at zero without anyone resetting anything.
    key = UnicodeAttribute(hash_key=True)  # "<kind>#<subject>#<window start, epoch seconds>"
    attempts = NumberAttribute(default=0)
    # Only clean-up: DynamoDB deletes expired items late (up to days), so the code never relies on it.
    expires_at = TTLAttribute()

    @staticmethod
    def key_for(kind: str, subject: str, window_start: int) -> str:
        return f"{kind}#{subject}#{window_start}"
