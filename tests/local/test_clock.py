"""The local clock: runs an app's schedules and drains its queues into the handlers, deleting
a message only when its handler succeeds (so SQS redelivers, then dead-letters, failures)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from chalice.app import Rate, ScheduledEventConfig, SQSEventConfig

from local.bootstrap import create_queues
from local.clock import drain_queue, run_schedule, schedule_seconds

CALLS: list[tuple[str, Any]] = []


def succeed(event: dict, context: object) -> None:
    CALLS.append(("ok", [r["body"] for r in event["Records"]]))


def fail(event: dict, context: object) -> None:
    CALLS.append(("fail", [r["body"] for r in event["Records"]]))
    raise RuntimeError("handler failed")


def tick(event: dict, context: object) -> None:
    CALLS.append(("tick", event["detail-type"]))


@dataclass
class FakeApp:
    event_sources: list[Any]


def _queue(name: str, handler: str) -> SQSEventConfig:
    return SQSEventConfig(name=name, handler_string=f"tests.local.test_clock.{handler}", queue=name, queue_arn=None,
                          batch_size=10, maximum_batching_window_in_seconds=0, maximum_concurrency=None)


def _drain_until(app: FakeApp, config: SQSEventConfig, done) -> None:  # type: ignore[no-untyped-def]
    stop = threading.Event()
    worker = threading.Thread(target=drain_queue, args=(app, config, stop), daemon=True)
    worker.start()
    for _ in range(100):
        if done():
            break
        stop.wait(0.05)
    stop.set()
    worker.join(5)


def test_messages_are_handed_to_the_handler_and_deleted(aws):
    create_queues(["clock-ok"])
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="clock-ok")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"job": 1}))
    config = _queue("clock-ok", "succeed")
    CALLS.clear()
    _drain_until(FakeApp([config]), config, lambda: CALLS)
    assert CALLS == [("ok", ['{"job": 1}'])]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_failing_batch_stays_for_redelivery(aws):
    create_queues(["clock-fail"])
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="clock-fail")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="boom")
    config = _queue("clock-fail", "fail")
    CALLS.clear()
    _drain_until(FakeApp([config]), config, lambda: CALLS)
    assert CALLS and CALLS[0] == ("fail", ["boom"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1


def test_schedules_run_on_their_rate_with_a_scheduled_event():
    config = ScheduledEventConfig(name="tick", handler_string="tests.local.test_clock.tick",
                                  schedule_expression=Rate(1, unit=Rate.MINUTES), description="")
    assert schedule_seconds(config) == 60 and schedule_seconds(config, speedup=60) == 1
    stop = threading.Event()
    CALLS.clear()
    worker = threading.Thread(target=run_schedule, args=(FakeApp([config]), config, stop, 60.0), daemon=True)
    worker.start()
    for _ in range(60):
        if CALLS:
            break
        stop.wait(0.05)
    stop.set()
    worker.join(5)
    assert CALLS[0] == ("tick", "Scheduled Event")
