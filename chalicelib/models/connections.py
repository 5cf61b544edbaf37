"""Open realtime (WebSocket) connections: one item per socket, findable by space and by user."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import table_meta


class ConnectionsBySpace(GlobalSecondaryIndex["ConnectionModel"]):
    class Meta:
        index_name = "by_space"
        projection = AllProjection()

    space_id = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)


class ConnectionsByUser(GlobalSecondaryIndex["ConnectionModel"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)


class ConnectionModel(Model):
    Meta = table_meta("connections")

    connection_id = UnicodeAttribute(hash_key=True)
    space_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    role = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute()
    # API Gateway closes sockets after 2 hours; the TTL sweeps any we never heard close.
    expires_at = TTLAttribute()

    by_space = ConnectionsBySpace()
    by_user = ConnectionsByUser()
