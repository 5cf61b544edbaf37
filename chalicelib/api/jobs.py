"""Handlers that no HTTP request calls: schedules and queues."""

from __future__ import annotations

import json

from chalice import Blueprint, Rate
from chalice.app import SQSEvent

from chalicelib.logs import logger
from chalicelib.settings import get_settings
from chalicelib.wiring import services

jobs = Blueprint(__name__)


@jobs.schedule(Rate(1, unit=Rate.MINUTES), name="end_unattended_spaces")
def end_unattended_spaces(event: object) -> None:
    """A live space with no host and no co-host for the grace period ends by itself."""
    ended = services().spaces.end_unattended()
    if ended:
        logger.info("ended unattended spaces", extra={"space_ids": ended})


@jobs.schedule(Rate(1, unit=Rate.MINUTES), name="send_due_reminders")
def send_due_reminders(event: object) -> None:
    """Enqueue the reminders that came due since the last tick (fan-out happens in SQS jobs)."""
    count = services().reminders.enqueue_due()
    if count:
        logger.info("reminders due", extra={"count": count})


@jobs.schedule(Rate(10, unit=Rate.MINUTES), name="sweep_refunds")
def sweep_refunds(event: object) -> None:
    """Queue again any refund still owed (a crash between owing it and queueing it)."""
    queued = services().ticketing.sweep_refunds()
    if queued:
        logger.warning("refunds queued again by the sweep", extra={"count": queued})


@jobs.on_sqs_message(queue=get_settings().queue_name("notifications"), batch_size=10, name="notification_jobs")
def notification_jobs(event: SQSEvent) -> None:
    """Fan-out pages and send batches. A failure raises, so SQS retries and then dead-letters."""
    consumer = services().notification_jobs
    for record in event:
        consumer.handle(json.loads(record.body))


@jobs.on_sqs_message(queue=get_settings().queue_name("refunds"), batch_size=10, name="refund_jobs")
def refund_jobs(event: SQSEvent) -> None:
    """One refund per message; safe to redeliver (Stripe idempotency key per payment)."""
    ticketing = services().ticketing
    for record in event:
        job = json.loads(record.body)
        ticketing.refund(job["space_id"], job["buyer_id"], job.get("payment_intent_id"))  # absent in older jobs
