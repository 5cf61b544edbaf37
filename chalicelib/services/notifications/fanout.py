"""Fan-out: who hears what about a space, and sending it to each of them once.

Who hears what:
- scheduled: the host's followers (``space.scheduled``);
- before the start: reminded people and followers (``space.starting_soon``, lead time from
  settings), and the host 30 minutes ahead (``space.host_reminder``);
- live: the host's followers (``space.live``);
- cancelled or moved: the people who asked for a reminder.
Followers who muted the host hear nothing from them.

Fan-out never runs in a request or in the scheduler: both only enqueue jobs. A page job
reads one page of an audience and enqueues send jobs (and the next page); a send job writes
each inbox item with a conditional put keyed by (user, kind, space), so a redelivered job
sends nothing twice. Push (SNS) and the realtime event follow a successful write only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Callable

from chalicelib.clock import iso
from chalicelib.events import USERS, EventPublisher, RoomEvent
from chalicelib.models.spaces import SpaceModel
from chalicelib.services.notifications.inbox import Devices, Inbox, notification_view
from chalicelib.services.notifications.notes import Kind, note
from chalicelib.services.notifications.reminders import Reminders
from chalicelib.services.social import SocialGraph
from chalicelib.services.spaces import SpaceChange
from chalicelib.settings import Settings

SEND = "send"  # the job type of one batch of users to send one note to


class Audience(StrEnum):
    """Who hears a kind of notification. Followers and subscribers are also the types of the
    jobs that page through them."""

    FOLLOWERS = "followers"  # the host's followers, minus those who muted the host
    SUBSCRIBERS = "subscribers"  # the people who asked to be reminded of the space
    HOST = "host"


AUDIENCES: dict[Kind, tuple[Audience, ...]] = {
    Kind.SCHEDULED: (Audience.FOLLOWERS,),
    Kind.STARTING_SOON: (Audience.SUBSCRIBERS, Audience.FOLLOWERS),
    Kind.HOST_REMINDER: (Audience.HOST,),
    Kind.LIVE: (Audience.FOLLOWERS,),
    Kind.CANCELED: (Audience.SUBSCRIBERS,),
    Kind.RESCHEDULED: (Audience.SUBSCRIBERS,),
}

# The lifecycle changes anyone is told about (an ended space is news to nobody).
_ANNOUNCED = {SpaceChange.SCHEDULED: Kind.SCHEDULED, SpaceChange.LIVE: Kind.LIVE, SpaceChange.CANCELED: Kind.CANCELED,
              SpaceChange.RESCHEDULED: Kind.RESCHEDULED}


class Fanout:
    def __init__(self, settings: Settings, enqueue: Callable[[list[dict[str, Any]]], None], social: SocialGraph,
                 reminders: Reminders, inbox: Inbox, devices: Devices, events: EventPublisher):
        self._settings = settings
        self._enqueue = enqueue
        self._social = social
        self._reminders = reminders
        self._inbox = inbox
        self._devices = devices
        self._events = events

    def space_changed(self, change: SpaceChange, space: SpaceModel, previous_start: datetime | None) -> None:
        """SpaceObserver: a space scheduled, gone live, cancelled or moved is announced to its
        audience. Each move is news of its own (the new start tells them apart)."""
        kind = _ANNOUNCED.get(change)
        if kind is not None:
            self.announce(space, kind, variant=iso(space.scheduled_start) if change is SpaceChange.RESCHEDULED else None)

    def announce(self, space: SpaceModel, kind: Kind, variant: str | None = None) -> None:
        """Tell the audience of ``kind`` about ``space``: the host at once, everyone else
        through page jobs."""
        message = note(space, kind, variant)
        audiences = AUDIENCES[kind]
        if Audience.HOST in audiences:
            self.send([space.creator_id], message)
        jobs = [{"type": audience.value, "host_id": space.creator_id, "space_id": space.space_id, "note": message}
                for audience in audiences if audience is not Audience.HOST]
        if jobs:
            self._enqueue(jobs)

    def page(self, job: dict[str, Any]) -> None:
        """One page of an audience → send jobs, plus the job for the next page."""
        size = self._settings.fanout_page_size
        if job["type"] == Audience.FOLLOWERS:
            page = self._social.followers_to_notify(job["host_id"], job.get("cursor"), size)
        else:
            page = self._reminders.subscribers(job["space_id"], job.get("cursor"), size)
        user_ids, batch = page.user_ids, self._settings.send_batch_size
        jobs: list[dict[str, Any]] = [{"type": SEND, "user_ids": user_ids[i:i + batch], "note": job["note"]}
                                      for i in range(0, len(user_ids), batch)]
        if page.next_cursor:
            jobs.append({**job, "cursor": page.next_cursor})
        if jobs:
            self._enqueue(jobs)

    def send(self, user_ids: list[str], message: dict[str, Any]) -> int:
        """Write each inbox item once; push and announce only the ones written now."""
        written = self._inbox.add(user_ids, message)
        self._devices.push(written)
        for item in written:
            self._events.publish(RoomEvent("notification.created", "", item.created_at, notification_view(item),
                                           audience=USERS, user_ids=(item.user_id,)))
        return len(written)
