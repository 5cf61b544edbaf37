"""Handlers that no HTTP request calls: schedules and queues. ``register`` adds them to the
app, with the queue names of the deployment's settings."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate
from chalice.app import SQSEvent

from chalicelib.api.batches import each_job
from chalicelib.gateways.queues import Queue
from chalicelib.logs import logger
from chalicelib.settings import Settings
from chalicelib.wiring import services


def end_unattended_spaces(event: object) -> None:
    """The minute's tick over live spaces: one with no host and no co-host for the grace period
    ends by itself; the others' listener counts are sampled for trending (its growth)."""
    ended = services().spaces.end_unattended()
    if ended:
        logger.info("ended unattended spaces", extra={"space_ids": ended})
    services().trending.take_samples()


def send_due_reminders(event: object) -> None:
    """Enqueue the reminders that came due since the last tick (fan-out happens in SQS jobs)."""
    count = services().reminders.enqueue_due()
    if count:
        logger.info("reminders due", extra={"count": count})


def sweep_refunds(event: object) -> None:
    """Queue again any refund still owed (a crash between owing it and queueing it)."""
    queued = services().refunds.sweep()
    if queued:
        logger.warning("refunds queued again by the sweep", extra={"count": queued})


def reconcile_checkouts(event: object) -> None:
    """Grant the holds Stripe reports paid (and release the expired ones) whose webhook never acted."""
    done = services().checkouts.sweep()
    if done.granted or done.released:
        logger.warning("checkouts reconciled", extra={"granted": done.granted, "released": done.released})


def notification_jobs(event: SQSEvent) -> dict[str, Any]:
    """Fan-out pages and send batches. A failed job is reported, so SQS retries it alone and then dead-letters it."""
    return each_job(event, services().notification_jobs.handle)


def refund_jobs(event: SQSEvent) -> dict[str, Any]:
    """One refund per message; safe to redeliver (Stripe idempotency key per payment)."""
    refunds = services().refunds
    return each_job(event, lambda job: refunds.refund(job["space_id"], job["buyer_id"],
                                                      job.get("payment_intent_id")))  # absent in older jobs


def register(app: Chalice, settings: Settings) -> None:
    app.schedule(Rate(1, unit=Rate.MINUTES), name="end_unattended_spaces")(end_unattended_spaces)
    app.schedule(Rate(1, unit=Rate.MINUTES), name="send_due_reminders")(send_due_reminders)
    app.schedule(Rate(10, unit=Rate.MINUTES), name="sweep_refunds")(sweep_refunds)
    app.schedule(Rate(5, unit=Rate.MINUTES), name="reconcile_checkouts")(reconcile_checkouts)
    app.on_sqs_message(queue=settings.queue_name(Queue.NOTIFICATIONS), batch_size=10,
                       name="notification_jobs")(notification_jobs)
    app.on_sqs_message(queue=settings.queue_name(Queue.REFUNDS), batch_size=10, name="refund_jobs")(refund_jobs)
