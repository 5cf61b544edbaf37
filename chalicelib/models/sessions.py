"""Sign-in sessions: one item per refresh-token family, and one-time password-reset tokens."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class SessionsByUser(GlobalSecondaryIndex["SessionModel"]):
    class Meta:
        index_name = "by_user"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True)
    session_id = UnicodeAttribute(range_key=True)


class SessionModel(Model):
    """A sign-in and every refresh since (one "family"). Only the hash of the current refresh
    token is kept; ``generation`` counts rotations, so a token of an earlier generation is a
    spent one coming back (reuse), which revokes the family."""

    Meta = table_meta("sessions")

    session_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    refresh_hash = UnicodeAttribute()
    generation = NumberAttribute(default=0)
    revoked = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()
    # Refresh tokens of the family stop working then; DynamoDB drops the item later.
    expires_at = TTLAttribute()

    by_user = SessionsByUser()


class PasswordResetModel(Model):
    """A password-reset token, stored as its SHA-256 only; deleted (conditionally) when used."""

    Meta = table_meta("password_resets")

    token_hash = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    expires_at = TTLAttribute()
