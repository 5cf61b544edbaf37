"""SQS batches with partial failures: each message is handled on its own, and the handler
answers which ones failed (``{"batchItemFailures": [...]}``, Powertools' batch processor).

The event source mapping (``ReportBatchItemFailures``, set in the CDK) and the local pump
then delete the messages that succeeded and leave only the failed ones for redelivery, so
one bad message is retried alone and, after the queue's max receives, dead-lettered
without holding the others.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice.app import SQSEvent

from chalicelib.logs import logger


def each_job(event: SQSEvent, handle: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """Hand each message's JSON job to ``handle``; returns the partial batch response."""
    def record_handler(record: SQSRecord) -> None:
        try:
            handle(json.loads(record.body))
        except Exception:
            logger.exception("job failed: SQS delivers it again, alone", extra={
                "message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count})
            raise

    # A batch where every message failed raises (Lambda counts an error) and comes back whole.
    response = process_partial_response(event=event.to_dict(), record_handler=record_handler,
                                        processor=BatchProcessor(event_type=EventType.SQS))
    return dict(response)
