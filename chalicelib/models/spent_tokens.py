"""Single-use tokens that were used: one item per token id, kept until the token expires."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class SpentTokenModel(Model):
    Meta = table_meta("spent_tokens")

    token_id = UnicodeAttribute(hash_key=True)  # "<kind>#<jti>", e.g. "realtime#3f2a…"
    # Past the token's own expiry it is refused anyway, so DynamoDB may then drop the item.
    expires_at = TTLAttribute()

    @classmethod
    def spend(cls, token_id: str, expires_at: datetime) -> bool:
        """Mark a token used; False if it already was. A conditional put, so of any number of
        concurrent callers exactly one gets True."""
        try:
            cls(token_id=token_id, expires_at=expires_at).save(condition=cls.token_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
