"""Handlers that no HTTP request calls: schedules and queues."""

from __future__ import annotations

from chalice import Blueprint, Rate

from chalicelib.logs import logger
from chalicelib.wiring import services

jobs = Blueprint(__name__)


@jobs.schedule(Rate(1, unit=Rate.MINUTES), name="end_unattended_spaces")
def end_unattended_spaces(event: object) -> None:
    """A live space with no host and no co-host for the grace period ends by itself."""
    ended = services().spaces.end_unattended()
    if ended:
        logger.info("ended unattended spaces", extra={"space_ids": ended})
