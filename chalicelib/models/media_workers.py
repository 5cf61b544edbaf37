"""One record per live space's media worker: written by the launcher when it starts one,
then by the worker itself every few seconds (heartbeat: URL, state, load).

The worker writes it without this model (it never imports chalicelib): the attribute names
are ``parlor_contract.worker.HeartbeatField``, and a test holds this model to them.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.models.base import table_meta
from parlor_contract.worker import WorkerState


class MediaWorkerModel(Model):
    Meta = table_meta("media_workers")

    space_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute(default=WorkerState.STARTING)
    url = UnicodeAttribute(null=True)
    # Where the launcher put it: a local pid or an ECS task ARN.
    handle = UnicodeAttribute(null=True)
    launched_at = UnicodeAttribute(null=True)  # ISO 8601, as the worker writes its own times
    heartbeat_at = UnicodeAttribute(null=True)
    # Set to SPACE_ENDED by the API when the space ends; the worker closes on its next heartbeat.
    space_state = UnicodeAttribute(null=True)
    participants: MapAttribute = MapAttribute(null=True)  # role -> count
    packets_forwarded = NumberAttribute(null=True)
    cpu_seconds = NumberAttribute(null=True)
    pid = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    def last_seen(self) -> datetime | None:
        stamp = self.heartbeat_at or self.launched_at
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
