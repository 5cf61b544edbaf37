"""Every queue handler of the app answers which messages of a batch failed, so SQS retries
those alone (and dead-letters a poison message) while the others are done once."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.gateways.queues import Queue

GOOD_JOBS = {
    "notification_jobs": {"type": "send", "user_ids": [], "note": {"kind": "space.live", "space_id": "s1"}},
    "refund_jobs": {"space_id": "no-such-space", "buyer_id": "nobody", "payment_intent_id": "pi_none"},
    "realtime_fanout": {"payload": {"type": "space.updated"}, "connection_ids": []},
}
QUEUES = {"notification_jobs": Queue.NOTIFICATIONS, "refund_jobs": Queue.REFUNDS, "realtime_fanout": Queue.REALTIME}


@pytest.mark.parametrize("handler", sorted(GOOD_JOBS))
def test_a_bad_message_is_reported_alone(container, settings, handler):
    from app import app

    with Client(app) as client:
        good = json.dumps(GOOD_JOBS[handler])
        event = client.events.generate_sqs_event(queue_name=settings.queue_name(QUEUES[handler]),
                                                 message_bodies=[good, "{not json", good])
        bad_id = event["Records"][1]["messageId"]
        reply = client.lambda_.invoke(handler, event)
    assert reply.payload == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
