"""Reminders: asking (or no longer asking) to be reminded of a scheduled space, and the
reminders sent before it starts.

Each reminder a scheduled space will need (``space.starting_soon`` for its audience, at the
lead time from settings; ``space.host_reminder`` for its host) is filed under the minute it
comes due. The scheduler's tick reads only the minute buckets since the last tick and
enqueues a due job for each; a due job whose space started, was cancelled or moved since
is stale and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.clock import Clock, iso
from chalicelib.errors import InvalidState, SpaceNotFound
from chalicelib.models.notifications import DueReminderModel, ReminderModel, SchedulerCursorModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.spaces import SCHEDULED, SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.services.notifications.notes import Kind
from chalicelib.services.social import Page
from chalicelib.services.spaces import SpaceChange
from chalicelib.settings import Settings

DUE = "due"  # the job type of a reminder that came due
_MAX_CATCH_UP_MINUTES = 180


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class ReminderState:
    """Someone's reminder for a space after a request: whether it is on, whether the request
    changed that, and how many people are now reminded."""

    reminding: bool
    changed: bool
    subscriber_count: int


class Reminders:
    def __init__(self, connection: Connection, clock: Clock, settings: Settings,
                 enqueue: Callable[[list[dict[str, Any]]], None]):
        self._connection = connection
        self._clock = clock
        self._settings = settings
        self._enqueue = enqueue

    # -- asking to be reminded -----------------------------------------------------------

    def set(self, user_id: str, space_id: str, wanted: bool) -> ReminderState:
        """Ask (``wanted``) or stop asking to be reminded of a space (404 if there is none).

        Idempotent: the reminder and the space's ``subscriber_count`` change together in one
        transaction, or not at all (``changed`` is False). Only a scheduled space takes new
        reminders (``InvalidState``); stopping is always allowed.
        """
        space = SpaceModel.lookup(space_id)
        changed = self._write(user_id, space.space_id, wanted)
        space.refresh()
        return ReminderState(reminding=wanted, changed=changed, subscriber_count=int(space.subscriber_count))

    def subscribers(self, space_id: str, cursor: str | None, limit: int) -> Page:
        """A page of the people who asked to be reminded of a space."""
        result = ReminderModel.query(space_id, limit=limit, last_evaluated_key=decode_cursor(cursor, ReminderModel))
        return Page([r.user_id for r in result], encode_cursor(result.last_evaluated_key))

    def _write(self, user_id: str, space_id: str, wanted: bool) -> bool:
        reminder = ReminderModel(space_id=space_id, user_id=user_id, created_at=self._clock.now())
        only_if_scheduled = (SpaceModel.state == SCHEDULED) if wanted else None
        tx = Transaction(self._connection)
        try:
            with tx:
                if wanted:
                    tx.put("reminder", reminder, condition=ReminderModel.user_id.does_not_exist())
                else:
                    tx.remove("reminder", reminder, condition=ReminderModel.user_id.exists())
                tx.change("space", SpaceModel(space_id=space_id), [SpaceModel.subscriber_count.add(1 if wanted else -1)],
                          condition=only_if_scheduled)
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "reminder" in failed:
                return False  # already as wanted
            if "space" in failed:
                raise InvalidState("Reminders are for scheduled spaces.") from exc
            raise
        return True

    # -- reminders due before the start ---------------------------------------------------

    def space_changed(self, change: SpaceChange, space: SpaceModel, previous_start: datetime | None) -> None:
        """SpaceObserver: a scheduled space's reminders are filed; a cancelled space's are
        dropped; a moved space's are filed again for the new start."""
        if change is SpaceChange.SCHEDULED:
            self._plan(space)
        elif change is SpaceChange.CANCELED:
            self._drop(space.space_id, space.scheduled_start)
        elif change is SpaceChange.RESCHEDULED:
            self._drop(space.space_id, previous_start)
            self._plan(space)

    def enqueue_due(self) -> int:
        """The scheduler's tick: enqueue every reminder due since the last tick (catching up
        missed ones), reading only the minute buckets in between."""
        now = self._clock.now()
        current = _minute(now)
        try:
            last = SchedulerCursorModel.get("reminders").last_minute
        except DoesNotExist:
            last = _minute(now - timedelta(minutes=1))
        start = max(datetime.fromisoformat(last + ":00+00:00") + timedelta(minutes=1), now - timedelta(minutes=_MAX_CATCH_UP_MINUTES))
        jobs = []
        minute = start
        while _minute(minute) <= current:
            jobs += [_due_job(item.space_id, item.kind, item.scheduled_start) for item in DueReminderModel.query(_minute(minute))]
            minute += timedelta(minutes=1)
        if jobs:
            self._enqueue(jobs)
        SchedulerCursorModel(name="reminders", last_minute=current).save()
        return len(jobs)

    def still_due(self, job: dict[str, Any]) -> SpaceModel | None:
        """The space a due job reminds of, or None when the reminder is stale: the space is
        gone, or started, was cancelled or moved since the reminder was filed."""
        try:
            space = SpaceModel.lookup(job["space_id"])
        except SpaceNotFound:
            return None
        if space.state != SCHEDULED or iso(space.scheduled_start) != job["scheduled_start"]:
            return None
        return space

    def _plan(self, space: SpaceModel) -> None:
        start = space.scheduled_start
        if start is None:
            return
        now = self._clock.now()
        due_now = []
        for kind, due in self._due_times(start):
            if due <= now:  # already inside the lead time: remind right away
                due_now.append(_due_job(space.space_id, kind, start))
            else:
                DueReminderModel(due_minute=_minute(due), key=f"{space.space_id}#{kind}", space_id=space.space_id,
                                 kind=kind.value, scheduled_start=start).save()
        if due_now:
            self._enqueue(due_now)

    def _drop(self, space_id: str, start: datetime | None) -> None:
        if start is None:
            return
        for kind, due in self._due_times(start):
            DueReminderModel(due_minute=_minute(due), key=f"{space_id}#{kind}").delete()

    def _due_times(self, start: datetime) -> list[tuple[Kind, datetime]]:
        """When each reminder of a space starting at ``start`` comes due."""
        return [(Kind.STARTING_SOON, start - timedelta(minutes=self._settings.reminder_lead_minutes)),
                (Kind.HOST_REMINDER, start - timedelta(minutes=self._settings.host_reminder_minutes))]


def _due_job(space_id: str, kind: str, scheduled_start: datetime | None) -> dict[str, Any]:
    return {"type": DUE, "space_id": space_id, "kind": kind, "scheduled_start": iso(scheduled_start)}
