"""Telling people about spaces in time to join them.

Who hears what:
- scheduled: the host's followers (``space.scheduled``);
- before the start: reminded people and followers (``space.starting_soon``, lead time from
  settings), and the host 30 minutes ahead (``space.host_reminder``);
- live: the host's followers (``space.live``);
- cancelled or moved: the people who asked for a reminder.

Fan-out never runs in a request or in the scheduler: both only enqueue jobs. A page job
reads one page of followers and enqueues send jobs (and the next page); a send job writes
each inbox item with a conditional put keyed by (user, kind, space), so a redelivered job
sends nothing twice. Push (SNS) and the realtime event follow a successful write only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError

from chalicelib.clock import Clock, iso
from chalicelib.errors import InvalidState
from chalicelib.events import USERS, EventPublisher, RoomEvent
from chalicelib.gateways.push import PushGateway
from chalicelib.models.notifications import (
    DeviceModel,
    DueReminderModel,
    NotificationModel,
    ReminderModel,
    SchedulerCursorModel,
)
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.spaces import SCHEDULED, SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import UserModel
from chalicelib.services.social import SocialGraph
from chalicelib.services.spaces import SpaceChange
from chalicelib.settings import Settings

SCHEDULED_KIND, STARTING_SOON, HOST_REMINDER, LIVE_KIND, CANCELED_KIND, RESCHEDULED_KIND = (
    "space.scheduled", "space.starting_soon", "space.host_reminder", "space.live", "space.canceled", "space.rescheduled")
_MAX_CATCH_UP_MINUTES = 180


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class InboxPage:
    notifications: list[NotificationModel]
    next_cursor: str | None
    unread: int


class NotificationService:
    def __init__(self, connection: Connection, clock: Clock, settings: Settings, enqueue: Callable[[list[dict[str, Any]]], None],
                 push: PushGateway, events: EventPublisher, social: SocialGraph):
        self._connection = connection
        self._clock = clock
        self._settings = settings
        self._enqueue = enqueue
        self._push = push
        self._events = events
        self._social = social

    # -- lifecycle (SpaceObserver) -------------------------------------------------------

    def space_changed(self, change: SpaceChange, space: SpaceModel, previous_start: datetime | None) -> None:
        if change is SpaceChange.SCHEDULED:
            self._plan_reminders(space)
            self._enqueue([self._audience_job("followers", space, SCHEDULED_KIND)])
        elif change is SpaceChange.LIVE:
            self._enqueue([self._audience_job("followers", space, LIVE_KIND)])
        elif change is SpaceChange.CANCELED:
            self._drop_reminders(space.space_id, space.scheduled_start)
            self._enqueue([self._audience_job("subscribers", space, CANCELED_KIND)])
        elif change is SpaceChange.RESCHEDULED:
            self._drop_reminders(space.space_id, previous_start)
            self._plan_reminders(space)
            self._enqueue([self._audience_job("subscribers", space, RESCHEDULED_KIND, variant=iso(space.scheduled_start))])

    # -- reminders ------------------------------------------------------------------------

    def remind_me(self, user_id: str, space_id: str) -> bool:
        """Ask to be reminded of a scheduled space (idempotent; counted in subscriber_count)."""
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("reminder", ReminderModel(space_id=space_id, user_id=user_id, created_at=self._clock.now()),
                       condition=ReminderModel.user_id.does_not_exist())
                tx.change("space", SpaceModel(space_id=space_id), [SpaceModel.subscriber_count.add(1)],
                          condition=SpaceModel.state == SCHEDULED)
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "space" in failed and "reminder" not in failed:
                raise InvalidState("Reminders are for scheduled spaces.") from exc
            if "reminder" in failed:
                return False
            raise
        return True

    def stop_reminding(self, user_id: str, space_id: str) -> bool:
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.remove("reminder", ReminderModel(space_id=space_id, user_id=user_id),
                          condition=ReminderModel.user_id.exists())
                tx.change("space", SpaceModel(space_id=space_id), [SpaceModel.subscriber_count.add(-1)])
        except TransactWriteError as exc:
            if "reminder" in tx.failed_conditions(exc):
                return False
            raise
        return True

    def _plan_reminders(self, space: SpaceModel) -> None:
        start = space.scheduled_start
        if start is None:
            return
        now = self._clock.now()
        due_jobs = []
        for kind, minutes in ((STARTING_SOON, self._settings.reminder_lead_minutes),
                              (HOST_REMINDER, self._settings.host_reminder_minutes)):
            due = start - timedelta(minutes=minutes)
            if due <= now:  # already inside the lead time: remind right away
                due_jobs.append({"type": "due", "space_id": space.space_id, "kind": kind, "scheduled_start": iso(start)})
            else:
                DueReminderModel(due_minute=_minute(due), key=f"{space.space_id}#{kind}", space_id=space.space_id, kind=kind,
                                 scheduled_start=start).save()
        if due_jobs:
            self._enqueue(due_jobs)

    def _drop_reminders(self, space_id: str, start: datetime | None) -> None:
        if start is None:
            return
        for kind, minutes in ((STARTING_SOON, self._settings.reminder_lead_minutes),
                              (HOST_REMINDER, self._settings.host_reminder_minutes)):
            DueReminderModel(due_minute=_minute(start - timedelta(minutes=minutes)), key=f"{space_id}#{kind}").delete()

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
            for item in DueReminderModel.query(_minute(minute)):
                jobs.append({"type": "due", "space_id": item.space_id, "kind": item.kind,
                             "scheduled_start": iso(item.scheduled_start)})
            minute += timedelta(minutes=1)
        if jobs:
            self._enqueue(jobs)
        SchedulerCursorModel(name="reminders", last_minute=current).save()
        return len(jobs)

    # -- jobs (SQS handler) ---------------------------------------------------------------

    def handle(self, job: dict[str, Any]) -> None:
        kind = job["type"]
        if kind == "due":
            self._due(job)
        elif kind in ("followers", "subscribers"):
            self._page(job)
        elif kind == "send":
            self.send(job["user_ids"], job["note"])
        else:
            raise ValueError(f"unknown notification job {kind!r}")

    def _due(self, job: dict[str, Any]) -> None:
        try:
            space = SpaceModel.get(job["space_id"])
        except DoesNotExist:
            return
        if space.state != SCHEDULED or iso(space.scheduled_start) != job["scheduled_start"]:
            return  # started, cancelled or moved since: this reminder is stale
        if job["kind"] == HOST_REMINDER:
            self.send([space.creator_id], self._note(space, HOST_REMINDER))
        else:
            self._enqueue([self._audience_job("subscribers", space, STARTING_SOON),
                           self._audience_job("followers", space, STARTING_SOON)])

    def _page(self, job: dict[str, Any]) -> None:
        """One page of the audience → send jobs, plus the job for the next page."""
        size = self._settings.fanout_page_size
        if job["type"] == "followers":
            followers = self._social.followers_to_notify(job["host_id"], job.get("cursor"), size)
            user_ids, cursor = followers.user_ids, followers.next_cursor
        else:
            result = ReminderModel.query(job["space_id"], limit=size, last_evaluated_key=decode_cursor(job.get("cursor")))
            user_ids, cursor = [r.user_id for r in result], encode_cursor(result.last_evaluated_key)
        batch = self._settings.send_batch_size
        jobs: list[dict[str, Any]] = [{"type": "send", "user_ids": user_ids[i:i + batch], "note": job["note"]}
                                      for i in range(0, len(user_ids), batch)]
        if cursor:
            jobs.append({**job, "cursor": cursor})
        if jobs:
            self._enqueue(jobs)

    def send(self, user_ids: list[str], note: dict[str, Any]) -> int:
        """Write each inbox item once; push and announce only the ones written now."""
        now = self._clock.now()
        written = []
        for user_id in user_ids:
            key = f"{note['kind']}#{note['space_id']}" + (f"#{note['variant']}" if note.get("variant") else "")
            item = NotificationModel(user_id=user_id, key=key, sort_at=f"{iso(now)}#{key}", kind=note["kind"],
                                     space_id=note["space_id"], title=note["title"], body=note["body"],
                                     data=note.get("data") or {}, read=False, created_at=now)
            try:
                item.save(condition=NotificationModel.key.does_not_exist())
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue  # already notified (a redelivered job)
                raise
            written.append(item)
        self._push_to_devices(written)
        for item in written:
            self._events.publish(RoomEvent("notification.created", "", now, notification_view(item), audience=USERS,
                                           user_ids=(item.user_id,)))
        return len(written)

    def _push_to_devices(self, items: list[NotificationModel]) -> None:
        if not items:
            return
        by_user = {item.user_id: item for item in items}
        sends = []
        for device in DeviceModel.batch_get(list(by_user)):
            sends += [(device.user_id, arn) for arn in device.endpoint_arns or ()]
        if not sends:
            return

        def push(pair: tuple[str, str]) -> None:
            user_id, arn = pair
            item = by_user[user_id]
            if not self._push.send(arn, item.title, item.body, {"kind": item.kind, "space_id": item.space_id}):
                self._forget_endpoint(user_id, arn)

        with ThreadPoolExecutor(max_workers=min(8, len(sends))) as pool:
            list(pool.map(push, sends))

    def _forget_endpoint(self, user_id: str, arn: str) -> None:
        try:
            DeviceModel(user_id=user_id).update(actions=[DeviceModel.endpoint_arns.delete({arn})])
        except UpdateError:
            pass

    # -- inbox, devices ----------------------------------------------------------------------

    def inbox(self, user_id: str, cursor: str | None, limit: int) -> InboxPage:
        result = NotificationModel.by_time.query(user_id, scan_index_forward=False, limit=limit,
                                                 last_evaluated_key=decode_cursor(cursor))
        items = list(result)
        unread = NotificationModel.count(user_id, filter_condition=NotificationModel.read == False)  # noqa: E712
        return InboxPage(items, encode_cursor(result.last_evaluated_key), unread)

    def mark_read(self, user_id: str, keys: list[str] | None) -> int:
        """Mark some (or, with None, all) of a user's notifications read."""
        if keys is None:
            targets = [n.key for n in NotificationModel.query(user_id, filter_condition=NotificationModel.read == False)]  # noqa: E712
        else:
            targets = keys
        changed = 0
        for key in targets:
            try:
                NotificationModel(user_id=user_id, key=key).update(actions=[NotificationModel.read.set(True)],
                                                                   condition=NotificationModel.key.exists())
                changed += 1
            except UpdateError:
                continue  # not theirs / not there
        return changed

    def register_device(self, user_id: str, platform: str, token: str) -> str:
        arn = self._push.register(platform, token, user_id)
        DeviceModel(user_id=user_id).update(actions=[DeviceModel.endpoint_arns.add({arn})])
        return arn

    # -- helpers ------------------------------------------------------------------------------

    def _audience_job(self, audience: str, space: SpaceModel, kind: str, variant: str | None = None) -> dict[str, Any]:
        return {"type": audience, "host_id": space.creator_id, "space_id": space.space_id,
                "note": self._note(space, kind, variant)}

    def _note(self, space: SpaceModel, kind: str, variant: str | None = None) -> dict[str, Any]:
        host = UserModel.lookup(space.creator_id, attributes_to_get=["display_name", "handle"]).display_name
        start = iso(space.scheduled_start) or ""
        texts = {
            SCHEDULED_KIND: (f"{host} scheduled a space", f"“{space.title}” starts {start}"),
            STARTING_SOON: ("Starting soon", f"“{space.title}” by {host} starts {start}"),
            HOST_REMINDER: ("Your space starts in 30 minutes", f"“{space.title}” starts {start}"),
            LIVE_KIND: (f"{host} is live", f"“{space.title}”: tap to listen"),
            CANCELED_KIND: ("Space cancelled", f"{host} cancelled “{space.title}”"),
            RESCHEDULED_KIND: ("Space moved", f"“{space.title}” now starts {start}"),
        }
        title, body = texts[kind]
        return {"kind": kind, "space_id": space.space_id, "title": title, "body": body, "variant": variant,
                "data": {"space_id": space.space_id, "title": space.title, "scheduled_start": start}}


def notification_view(item: NotificationModel) -> dict[str, Any]:
    return {"id": item.key, "kind": item.kind, "space_id": item.space_id, "title": item.title, "body": item.body,
            "read": bool(item.read), "created_at": iso(item.created_at),
            "data": item.data.as_dict() if item.data is not None and hasattr(item.data, "as_dict") else (item.data or {})}
