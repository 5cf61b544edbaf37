"""Who follows whom. The base table answers "following", the index answers "followers"."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class FollowersIndex(GlobalSecondaryIndex["FollowModel"]):
    class Meta:
        index_name = "followers"
        projection = AllProjection()

    followee_id = UnicodeAttribute(hash_key=True)
    follower_id = UnicodeAttribute(range_key=True)


class FollowModel(Model):
    Meta = table_meta("follows")

    follower_id = UnicodeAttribute(hash_key=True)
    followee_id = UnicodeAttribute(range_key=True)
    created_at = UTCDateTimeAttribute()
    # The follower muted notifications from the followee (they still follow).
    notifications_muted = BooleanAttribute(default=False)

    followers = FollowersIndex()
