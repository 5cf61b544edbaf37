"""Users and the handle claims that keep handles unique."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.errors import UserNotFound
from chalicelib.models.base import table_meta


class UserModel(Model):
    Meta = table_meta("users")

    user_id = UnicodeAttribute(hash_key=True)
    handle = UnicodeAttribute()
    display_name = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    follower_count = NumberAttribute(default=0)
    following_count = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    # The live space this user hosts (a user hosts at most one at a time).
    hosting_space_id = UnicodeAttribute(null=True)
    scheduled_count = NumberAttribute(default=0)
    bio = UnicodeAttribute(null=True)
    # Where password-reset links go; unique (case-insensitively) through ``EmailModel``.
    email = UnicodeAttribute(null=True)
    # Trust and safety staff: set only by the admin command (``python -m chalicelib.admin``),
    # never through the API.
    staff = BooleanAttribute(null=True)
    # Set while a staff member's suspension stands: no sign-in, no token works, no joining.
    suspended_at = UTCDateTimeAttribute(null=True)

    @classmethod
    def lookup(cls, user_id: str, attributes_to_get: list[str] | None = None) -> UserModel:
        """The user, or 404 ``user_not_found``."""
        try:
            return cls.get(user_id, attributes_to_get=attributes_to_get)
        except cls.DoesNotExist as exc:
            raise UserNotFound() from exc


class HandleModel(Model):
    """One item per handle, keyed case-insensitively: the unique constraint on handles."""

    Meta = table_meta("handles")

    handle_key = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()

    @staticmethod
    def key_for(handle: str) -> str:
        return handle.lower()


class EmailModel(Model):
    """One item per email address, keyed case-insensitively: the unique constraint on emails,
    and how a password reset finds the account."""

    Meta = table_meta("emails")

    email_key = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()

    @staticmethod
    def key_for(email: str) -> str:
        return email.strip().lower()
