"""One record per live space's media worker: written by the launcher when it starts one,
then by the worker itself every few seconds (heartbeat: URL, state, load), and by the API
when it learns the worker exited (state ``gone``, with the exit code and why).

The warm pool's slots are records too (``MediaPoolSlotModel``): a slot holds one started
worker that no space has claimed yet.

The worker writes both without these models (it never imports chalicelib): the attribute
names are ``parlor_contract.worker.HeartbeatField`` and ``PoolField``, and a test holds
these models to them.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.models.base import table_meta
from parlor_contract.worker import PoolState, WorkerState


class WorkersByHandle(GlobalSecondaryIndex["MediaWorkerModel"]):
    """Which space a process or task served: an ECS task-stopped event names only the task."""

    class Meta:
        index_name = "by_handle"
        projection = KeysOnlyProjection()

    handle = UnicodeAttribute(hash_key=True)


class MediaWorkerModel(Model):
    Meta = table_meta("media_workers")

    space_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute(default=WorkerState.STARTING)
    url = UnicodeAttribute(null=True)
    # Where the launcher put it: a local pid or an ECS task ARN.
    handle = UnicodeAttribute(null=True)
    by_handle = WorkersByHandle()
    launched_at = UnicodeAttribute(null=True)  # ISO 8601, as the worker writes its own times
    heartbeat_at = UnicodeAttribute(null=True)
    # Set to SPACE_ENDED by the API when the space ends; the worker closes on its next heartbeat.
    space_state = UnicodeAttribute(null=True)
    participants: MapAttribute = MapAttribute(null=True)  # role -> count
    packets_forwarded = NumberAttribute(null=True)
    cpu_seconds = NumberAttribute(null=True)
    pid = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    # Written with state GONE: the process's exit code (or the task's container's) and why it stopped.
    exit_code = NumberAttribute(null=True)
    gone_reason = UnicodeAttribute(null=True)
    # The worker the API launched or claimed for the space; only it may heartbeat this record.
    worker_id = UnicodeAttribute(null=True)
    # Written by the launcher: whether the space's HLS stream is kept after the end; a worker
    # that replaces a crashed one is launched the same way.
    recording = BooleanAttribute(null=True)

    def last_seen(self) -> datetime | None:
        stamp = self.heartbeat_at or self.launched_at
        return _parse(stamp)


class MediaPoolSlotModel(Model):
    """Slot ``n`` of the warm pool (``0 <= n < PARLOR_MEDIA_WARM_POOL``): a fixed set of keys,
    so claiming and refilling are conditional writes on known items, never a scan."""

    Meta = table_meta("media_pool")

    slot = UnicodeAttribute(hash_key=True)
    # Minted by the API for each worker it starts into the slot: a claim names it, so an
    # old occupant's late heartbeat or a second claim can never take the slot's new worker.
    worker_id = UnicodeAttribute()
    state = UnicodeAttribute(default=PoolState.STARTING)
    handle = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    pid = NumberAttribute(null=True)
    launched_at = UnicodeAttribute(null=True)
    heartbeat_at = UnicodeAttribute(null=True)
    claimed_by = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    def last_seen(self) -> datetime | None:
        return _parse(self.heartbeat_at or self.launched_at)


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
