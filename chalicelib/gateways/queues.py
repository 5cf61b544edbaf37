"""Sending jobs to an SQS queue (fan-out batches, notification pages, refunds)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Callable


class Queue(StrEnum):
    """Parlor's queues, by short name (``Settings.queue_name`` gives the deployed name): the
    senders here and the handlers in ``chalicelib/api`` name them from this one list."""

    NOTIFICATIONS = "notifications"  # fan-out pages and send batches
    REFUNDS = "refunds"  # one refund per message
    REALTIME = "realtime"  # an event for a batch of sockets


class QueueSender:
    """Sends JSON jobs to one queue, ten per request (SQS's batch limit)."""

    def __init__(self, client: Callable[[], Any], queue_name: str):
        self._client = client
        self._queue_name = queue_name
        self._url: str | None = None

    def __call__(self, jobs: list[dict[str, Any]]) -> None:
        for start in range(0, len(jobs), 10):
            entries = [{"Id": str(i), "MessageBody": json.dumps(job)} for i, job in enumerate(jobs[start:start + 10])]
            response = self._client().send_message_batch(QueueUrl=self._queue_url(), Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} jobs for {self._queue_name}")

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = str(self._client().get_queue_url(QueueName=self._queue_name)["QueueUrl"])
        return self._url
