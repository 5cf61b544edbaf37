"""The local clock: runs an app's schedules and drains its queues into the handlers, deleting
a message only when its handler succeeds (so SQS redelivers, then dead-letters, failures)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from chalice import Chalice
from chalice.app import Rate, ScheduledEventConfig, SQSEvent, SQSEventConfig

from chalicelib.api.batches import each_job
from local.bootstrap import MAX_RECEIVES, create_queues
from local.clock import drain_queue, failed_message_ids, run_schedule, schedule_seconds

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


# -- partial batch failures: one bad message is retried alone, then dead-lettered -------------------

batch_app = Chalice("batch-test")
HANDLED: list[list[dict]] = []


@batch_app.on_sqs_message(queue="clock-batch", batch_size=10, name="jobs")
def jobs(event: SQSEvent) -> dict:
    HANDLED.append([json.loads(record.body) for record in event])

    def handle(job: dict) -> None:
        if job.get("poison"):
            raise ValueError("a job nobody can handle")

    return each_job(event, handle)


def test_one_bad_message_is_retried_alone_and_dead_lettered_without_holding_the_others(aws):
    create_queues(["clock-batch"])
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="clock-batch")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="clock-batch-dlq")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})  # redeliver failures at once
    jobs_sent = [{"n": 1}, {"n": 2}, {"n": 3, "poison": True}, {"n": 4}, {"n": 5}]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j["n"]), "MessageBody": json.dumps(j)} for j in jobs_sent])

    def dead_lettered() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        return attributes["Attributes"]["ApproximateNumberOfMessages"] != "0"

    HANDLED.clear()
    config = _queue("clock-batch", "jobs")  # the Chalice handler, as Lambda invokes it
    _drain_until(FakeApp([config]), config, dead_lettered)

    assert [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=dlq_url)["Messages"]] == [{"n": 3, "poison": True}]
    first, *retries = HANDLED
    assert sorted(j["n"] for j in first) == [1, 2, 3, 4, 5]
    assert len(retries) == MAX_RECEIVES - 1 and all(batch == [{"n": 3, "poison": True}] for batch in retries)
    done_once = [j["n"] for batch in HANDLED for j in batch if not j.get("poison")]
    assert sorted(done_once) == [1, 2, 4, 5]  # each good job handled exactly once
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_partial_batch_response_names_the_failed_messages():
    response = {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert failed_message_ids(response) == {"m-2"}
    assert failed_message_ids(None) == set() and failed_message_ids({"batchItemFailures": []}) == set()
