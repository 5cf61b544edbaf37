"""Who blocks whom. The base table answers "does A block B" (one GetItem) and "whom I
block"; the index answers "who blocks me" (to hide their spaces from me)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class BlockersIndex(GlobalSecondaryIndex["BlockModel"]):
    class Meta:
        index_name = "blockers"
        projection = AllProjection()

    blocked_id = UnicodeAttribute(hash_key=True)
    blocker_id = UnicodeAttribute(range_key=True)


class BlockModel(Model):
    Meta = table_meta("blocks")

    blocker_id = UnicodeAttribute(hash_key=True)
    blocked_id = UnicodeAttribute(range_key=True)
    created_at = UTCDateTimeAttribute()

    blockers = BlockersIndex()

    @classmethod
    def exists_between(cls, blocker_id: str, blocked_id: str) -> bool:
        try:
            cls.get(blocker_id, blocked_id, consistent_read=True, attributes_to_get=["blocker_id"])
        except cls.DoesNotExist:
            return False
        return True
