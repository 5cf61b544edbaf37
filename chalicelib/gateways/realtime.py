"""Delivering room events over API Gateway WebSockets (the ``EventPublisher`` for real).

Who gets an event is decided from the connections table; posting uses the management API
(``post_to_connection``), whose endpoint comes from settings, so the same code talks to
API Gateway on AWS and to the local gateway offline. A connection that is gone (410) is
deleted. Small audiences are posted inline, in parallel; bigger ones are handed to SQS in
batches and posted by the fan-out handler, so no request waits on a big room. An event that
ends someone's presence (``space.ended``, ``participant.removed``, ``participant.left``) closes
their sockets only after it was posted to them: the closing travels with the queued batch.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist

from chalicelib.clock import Clock
from chalicelib.events import EVERYONE, HOSTS, USERS, RoomEvent
from chalicelib.logs import logger
from chalicelib.models.connections import ConnectionModel
from chalicelib.models.spaces import SpaceModel

# API Gateway's management API allows a few hundred posts per second per account by default;
# a small pool per invocation stays well inside that while hiding each post's latency.
_POST_THREADS = 16
BATCH_SIZE = 100
# After these events the affected sockets are closed: the people are out of the room.
_CLOSES_USER = ("participant.removed", "participant.left")
_CLOSES_ROOM = "space.ended"


class ConnectionDirectory:
    """Where the open connections are."""

    def __init__(self, clock: Clock):
        self._clock = clock

    def add(self, connection_id: str, space_id: str, user_id: str, role: str) -> ConnectionModel:
        now = self._clock.now()
        record = ConnectionModel(connection_id=connection_id, space_id=space_id, user_id=user_id, role=role,
                                 connected_at=now, expires_at=now + timedelta(hours=3))
        record.save()
        return record

    def get(self, connection_id: str) -> ConnectionModel | None:
        try:
            return ConnectionModel.get(connection_id)
        except DoesNotExist:
            return None

    def remove(self, connection_id: str) -> None:
        ConnectionModel(connection_id=connection_id).delete()

    def of_person(self, space_id: str, user_id: str) -> list[ConnectionModel]:
        """Someone's connections in a space, oldest first. Ties in connect time are ordered by
        connection id, so every caller sees the same order."""
        mine = ConnectionModel.by_user.query(user_id, filter_condition=ConnectionModel.space_id == space_id)
        return sorted(mine, key=lambda c: (c.connected_at, c.connection_id))

    def for_event(self, event: RoomEvent) -> list[ConnectionModel]:
        if event.audience == USERS and not event.space_id:
            return [c for uid in event.user_ids for c in ConnectionModel.by_user.query(uid)]
        in_space = list(ConnectionModel.by_space.query(event.space_id)) if event.space_id else []
        if event.audience == EVERYONE:
            return in_space
        if event.audience == USERS:
            wanted = set(event.user_ids)
            return [c for c in in_space if c.user_id in wanted]
        if event.audience == HOSTS:
            try:
                hosts = set(SpaceModel.get(event.space_id).host_ids)
            except DoesNotExist:
                return []
            return [c for c in in_space if c.user_id in hosts]
        return []


class RealtimeGateway:
    def __init__(self, directory: ConnectionDirectory, management_client: Callable[[], Any],
                 fanout: Callable[[list[dict[str, Any]]], None] | None, inline_limit: int):
        self._directory = directory
        self._client = management_client
        self._fanout = fanout
        self._inline_limit = inline_limit

    def publish(self, event: RoomEvent) -> None:
        targets = self._directory.for_event(event)
        payload = event.wire()
        ids = [c.connection_id for c in targets]
        closing = _closed_by(event, targets)
        if len(ids) <= self._inline_limit or self._fanout is None:
            self.deliver(payload, ids)
            self.close(closing)
        else:
            self._fanout([{"payload": payload, "connection_ids": batch, "close_ids": [c for c in batch if c in closing]}
                          for batch in (ids[i:i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE))])

    def fan_out(self, job: dict[str, Any]) -> None:
        """A queued batch (from ``publish``): post the event, then close the sockets it ends."""
        self.deliver(job["payload"], job["connection_ids"])
        self.close(job.get("close_ids") or [])  # absent in jobs queued before closing travelled with them

    def send(self, connection_id: str, payload: dict[str, Any]) -> None:
        """Answer one socket directly (pong, an error for what it sent)."""
        self.deliver(payload, [connection_id])

    def deliver(self, payload: dict[str, Any], connection_ids: Iterable[str]) -> int:
        """Post to each connection in parallel; returns how many were delivered."""
        data = json.dumps(payload).encode()
        ids = list(connection_ids)
        if not ids:
            return 0
        with ThreadPoolExecutor(max_workers=min(_POST_THREADS, len(ids))) as pool:
            return sum(pool.map(lambda cid: self._post(cid, data), ids))

    def _post(self, connection_id: str, data: bytes) -> bool:
        try:
            self._client().post_to_connection(ConnectionId=connection_id, Data=data)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                self._directory.remove(connection_id)
            else:
                logger.warning("post_to_connection failed", extra={"connection_id": connection_id, "error": str(exc)})
            return False
        except BotoCoreError as exc:  # endpoint unreachable: log, never fail the caller
            logger.warning("post_to_connection failed", extra={"connection_id": connection_id, "error": str(exc)})
            return False

    def close(self, connection_ids: Iterable[str]) -> None:
        for connection_id in connection_ids:
            try:
                self._client().delete_connection(ConnectionId=connection_id)
            except (ClientError, BotoCoreError):
                pass  # already gone
            self._directory.remove(connection_id)


def _closed_by(event: RoomEvent, targets: list[ConnectionModel]) -> set[str]:
    """The connections an event ends: everyone's when the space ends, the removed or leaving person's."""
    if event.type == _CLOSES_ROOM:
        return {c.connection_id for c in targets}
    if event.type in _CLOSES_USER:
        return {c.connection_id for c in targets if c.user_id == event.data.get("user_id")}
    return set()
