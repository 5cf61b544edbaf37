"""Big rooms (over the inline fan-out limit): the event that ends someone's presence
(``space.ended``, ``participant.removed``) reaches each socket before that socket is closed,
though the posting goes through the SQS fan-out queue."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Iterator

import boto3
import pytest
from chalice.test import Client

from chalicelib.events import RoomEvent
from chalicelib.gateways.queues import Queue, QueueSender
from chalicelib.gateways.realtime import ConnectionDirectory, RealtimeGateway
from chalicelib.models.connections import ConnectionModel
from chalicelib.wiring import Services, use_services

SOCKETS = 200
SPACE = "space-big"


class RecordingManagementApi:
    """API Gateway's @connections, recording what was done to each socket, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (action, connection id, event type)
        self._lock = threading.Lock()

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # noqa: N803 - boto3's names
        with self._lock:
            self.calls.append(("post", ConnectionId, json.loads(Data)["type"]))

    def delete_connection(self, ConnectionId: str) -> None:  # noqa: N803
        with self._lock:
            self.calls.append(("close", ConnectionId, ""))

    def history(self, connection_id: str) -> list[str]:
        return [f"{action} {kind}".strip() for action, cid, kind in self.calls if cid == connection_id]


@pytest.fixture
def room(container: Services, settings, clock) -> Iterator[tuple[RealtimeGateway, RecordingManagementApi]]:
    management = RecordingManagementApi()
    directory = ConnectionDirectory(clock)
    gateway = RealtimeGateway(directory, lambda: management,
                              QueueSender(lambda: boto3.client("sqs"), settings.queue_name(Queue.REALTIME)),
                              settings.realtime_inline_limit)
    assert SOCKETS > settings.realtime_inline_limit
    with ConnectionModel.batch_write() as batch:
        for i in range(SOCKETS):
            batch.save(ConnectionModel(connection_id=f"c{i:03}", space_id=SPACE, user_id=f"u{i % 100:03}", role="listener",
                                       connected_at=clock.now(), expires_at=clock.now()))
    use_services(dataclasses.replace(container, realtime_gateway=gateway))  # what the fan-out handler posts with
    yield gateway, management


def run_fanout_queue(settings) -> int:
    """Deliver what waits in the fan-out queue to the app's handler, as Lambda would; returns the batches."""
    from app import app

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.queue_name(Queue.REALTIME))["QueueUrl"]
    batches = 0
    with Client(app) as client:
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            event = client.events.generate_sqs_event(queue_name=settings.queue_name(Queue.REALTIME),
                                                     message_bodies=[m["Body"] for m in messages])
            client.lambda_.invoke("realtime_fanout", event)
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(messages)])
            batches += len(messages)
    return batches


def test_every_socket_gets_space_ended_before_it_is_closed(room, settings, clock):
    gateway, management = room
    gateway.publish(RoomEvent("space.ended", SPACE, clock.now(), {}))
    assert run_fanout_queue(settings) == 2  # 200 sockets, 100 a batch: none posted inline
    for i in range(SOCKETS):
        assert management.history(f"c{i:03}") == ["post space.ended", "close"]
    assert ConnectionModel.count() == 0


def test_a_removed_person_gets_participant_removed_before_their_sockets_close(room, settings, clock):
    gateway, management = room
    gateway.publish(RoomEvent("participant.removed", SPACE, clock.now(), {"user_id": "u007"}))
    run_fanout_queue(settings)
    removed = {"c007", "c107"}  # u007's two sockets
    for i in range(SOCKETS):
        cid = f"c{i:03}"
        assert management.history(cid) == (["post participant.removed", "close"] if cid in removed
                                           else ["post participant.removed"])
    assert {c.connection_id for c in ConnectionModel.scan()} == {f"c{i:03}" for i in range(SOCKETS)} - removed


def test_a_small_room_is_posted_and_closed_inline(room, settings, clock):
    gateway, management = room
    small = [f"c{i:03}" for i in range(settings.realtime_inline_limit, SOCKETS)]
    with ConnectionModel.batch_write() as batch:
        for cid in small:
            batch.delete(ConnectionModel(connection_id=cid))
    gateway.publish(RoomEvent("space.ended", SPACE, clock.now(), {}))
    assert run_fanout_queue(settings) == 0
    assert all(management.history(f"c{i:03}") == ["post space.ended", "close"] for i in range(settings.realtime_inline_limit))


