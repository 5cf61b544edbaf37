"""The local stand-in for EventBridge schedules and SQS event source mappings.

moto never fires schedules or invokes Lambdas from queues, so this process imports the
app, runs each ``Rate`` schedule on its timer, and long-polls each ``on_sqs_message``
queue, handing messages to the same handlers with SQS-shaped events. A message is deleted
only when its handler succeeds; otherwise it becomes visible again and, after the queue's
max receives, lands in the dead-letter queue, as on AWS. A handler that answers with
``batchItemFailures`` (``ReportBatchItemFailures`` on AWS) failed only those messages:
the others are deleted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import threading
import time
from typing import Any

import boto3
from chalice.app import ScheduledEventConfig, SQSEventConfig

from local import logs

log = logging.getLogger(__name__)
_SECONDS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}


def entry_point(app: Any, name: str) -> Any:
    """What Lambda would invoke for a handler: the wrapper its ``handler_string`` names."""
    config = next(s for s in app.event_sources if s.name == name)
    module_name, _, attribute = config.handler_string.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def schedule_seconds(config: ScheduledEventConfig, speedup: float = 1.0) -> float:
    rate = config.schedule_expression
    value, unit = getattr(rate, "value", 1), getattr(rate, "unit", "MINUTES")
    return max(1.0, value * _SECONDS.get(str(unit), 60) / speedup)


def run_schedule(app: Any, config: ScheduledEventConfig, stop: threading.Event, speedup: float) -> None:
    handler = entry_point(app, config.name)
    period = schedule_seconds(config, speedup)
    while not stop.wait(period):
        event = {"version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": "123456789012",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": "us-east-1",
                 "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{config.name}"], "detail": {}}
        try:
            handler(event, None)
        except Exception:  # noqa: BLE001 - a failing tick is logged; the next one runs anyway
            log.exception("schedule failed", extra={"schedule": config.name})


def drain_queue(app: Any, config: SQSEventConfig, stop: threading.Event) -> None:
    handler = entry_point(app, config.name)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=config.queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while not stop.is_set():
        # Short polls: the local moto server handles one request at a time (see local/moto_server.py),
        # so a long poll would hold up every other process.
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, config.batch_size or 10),
                                       WaitTimeSeconds=0, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            stop.wait(0.2)
            continue
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"} for m in messages]}
        try:
            response = handler(event, None)
        except Exception:  # noqa: BLE001 - leave the batch for redelivery (and the DLQ)
            log.exception("queue handler failed", extra={"queue": config.queue})
            continue
        failed = failed_message_ids(response)
        if failed:
            log.warning("queue handler failed some messages", extra={"queue": config.queue, "failed": len(failed)})
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(done)])


def failed_message_ids(response: Any) -> set[str]:
    """The messages a partial batch response names as failed (none when the handler answered nothing)."""
    if not isinstance(response, dict):
        return set()
    return {str(item["itemIdentifier"]) for item in response.get("batchItemFailures") or []}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the app's schedules and drain its queues")
    parser.add_argument("--speedup", type=float, default=1.0, help="run schedules this many times faster")
    args = parser.parse_args()
    logs.configure("clock")
    from app import app

    stop = threading.Event()
    threads = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            threads.append(threading.Thread(target=run_schedule, args=(app, source, stop, args.speedup), daemon=True))
        elif isinstance(source, SQSEventConfig):
            threads.append(threading.Thread(target=drain_queue, args=(app, source, stop), daemon=True))
    for thread in threads:
        thread.start()
    log.info("running schedules and queues", extra={"count": len(threads)})
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
