"""The notifications queue's consumer: each job goes to the capability that made it."""

from __future__ import annotations

from typing import Any

from chalicelib.services.notifications.fanout import SEND, Audience, Fanout
from chalicelib.services.notifications.notes import Kind
from chalicelib.services.notifications.reminders import DUE, Reminders


class NotificationJobs:
    def __init__(self, reminders: Reminders, fanout: Fanout):
        self._reminders = reminders
        self._fanout = fanout

    def handle(self, job: dict[str, Any]) -> None:
        """Run one job. An unknown type raises, so SQS retries it and then dead-letters it."""
        kind = job["type"]
        if kind == DUE:
            space = self._reminders.still_due(job)
            if space is not None:
                self._fanout.announce(space, Kind(job["kind"]))
        elif kind in (Audience.FOLLOWERS, Audience.SUBSCRIBERS):
            self._fanout.page(job)
        elif kind == SEND:
            self._fanout.send(job["user_ids"], job["note"])
        else:
            raise ValueError(f"unknown notification job {kind!r}")
