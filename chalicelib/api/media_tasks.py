"""Media workers' lives on AWS: ECS tells when a worker's task stops (EventBridge "ECS Task
State Change", lastStatus STOPPED), so a dead worker is replaced in seconds rather than
when its heartbeat goes stale; and a schedule keeps the warm pool full (a Lambda keeps no
process between calls: after a deploy, or a lost task, this is what refills it)."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent

from chalicelib.gateways.launchers import task_family
from chalicelib.logs import logger
from chalicelib.settings import Settings
from chalicelib.wiring import services


def task_stopped_pattern(settings: Settings) -> dict[str, Any]:
    """Stopped tasks of the worker's task family. The CDK adds the cluster's ARN, which only
    the deployment knows (infra/parlor_stack.py)."""
    return {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
            "detail": {"lastStatus": ["STOPPED"], "group": [f"family:{task_family(settings.table_prefix)}"]}}


def media_task_stopped(event: CloudWatchEvent) -> None:
    """Mark the task's worker gone (its space gets a new one, or its pool slot is refilled)."""
    detail = event.detail
    exit_code = next((c["exitCode"] for c in detail.get("containers", []) if c.get("exitCode") is not None), None)
    reason = detail.get("stoppedReason") or detail.get("stopCode") or "task stopped"
    logger.info("media worker task stopped", extra={"task": detail["taskArn"], "exit_code": exit_code, "reason": reason})
    services().media.worker_exited(detail["taskArn"], exit_code, reason)


def keep_media_pool_warm(event: object) -> None:
    started = services().media.refill_pool()
    if started:
        logger.info("warm pool refilled", extra={"started": started})


def register(app: Chalice, settings: Settings) -> None:
    app.on_cw_event(task_stopped_pattern(settings), name="media_task_stopped")(media_task_stopped)
    app.schedule(Rate(1, unit=Rate.MINUTES), name="keep_media_pool_warm")(keep_media_pool_warm)
