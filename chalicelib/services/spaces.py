"""Spaces: creating, scheduling, starting, ending, cancelling, editing, looking up.

One module for the whole lifecycle (it runs past 250 lines for that reason): each state
transition's transaction reads beside the others. Every state transition is a conditional write on ``state`` inside a transaction with the
host's own bookkeeping (one live space at a time, at most N scheduled), so two concurrent
``start`` or ``end`` calls cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Callable, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.clock import Clock, timestamp
from chalicelib.errors import (
    AlreadyHosting,
    InvalidSchedule,
    InvalidState,
    NotEligibleToHost,
    NotHost,
    RuleViolated,
    SpaceNotFound,
    TooManyScheduled,
    UserNotFound,
)
from chalicelib.events import EventPublisher, RoomEvent
from chalicelib.gateways.media import MediaGateway
from chalicelib.ids import new_id
from chalicelib.models.spaces import CANCELED, ENDED, LIVE, SCHEDULED, STATES, SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import UserModel
from chalicelib.services.membership import Membership
from chalicelib.settings import Settings


class SpaceChange(Enum):
    """A space's lifecycle changes that observers (notifications, ticketing) hear about."""

    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELED = "canceled"
    RESCHEDULED = "rescheduled"


class SpaceObserver(Protocol):
    """Hears about lifecycle changes (notifications, ticketing)."""

    def space_changed(self, change: SpaceChange, space: SpaceModel, previous_start: datetime | None) -> None: ...


@dataclass(frozen=True)
class TicketTerms:
    price_cents: int
    currency: str
    max_tickets: int


class TicketRules(Protocol):
    """Checks the host may sell tickets (payout account enabled) before a ticketed space exists."""

    def check_can_sell(self, host_id: str) -> None: ...


@dataclass(frozen=True)
class NewSpace:
    title: str
    scheduled_start: datetime | None = None
    topics: tuple[str, ...] = ()
    invited_user_ids: tuple[str, ...] = ()
    lang: str = "en"
    ticket: TicketTerms | None = None
    recording: bool = True  # as on Spaces: on unless the host turns it off
    clipping: bool = True


@dataclass(frozen=True)
class SpaceEdit:
    title: str | None = None
    scheduled_start: datetime | None = None
    topics: tuple[str, ...] | None = None
    recording: bool | None = None  # until it goes live: its worker records from the start, or not at all
    clipping: bool | None = None


class SpaceService:
    def __init__(self, connection: Connection, clock: Clock, settings: Settings, membership: Membership,
                 events: EventPublisher, media: MediaGateway, observers: list[SpaceObserver] | None = None,
                 ticket_rules: TicketRules | None = None):
        self._connection = connection
        self._clock = clock
        self._membership = membership
        self._settings = settings
        self._events = events
        self._media = media
        self.observers: list[SpaceObserver] = list(observers or [])
        self.ticket_rules = ticket_rules

    # -- reading -----------------------------------------------------------------

    def get(self, space_id: str) -> SpaceModel:
        return SpaceModel.lookup(space_id)

    # -- lifecycle ---------------------------------------------------------------

    def create(self, creator_id: str, new: NewSpace) -> SpaceModel:
        """Only users with enough followers may host; a space is live at once unless scheduled;
        a user hosts one live space at a time and schedules at most N."""
        now = self._clock.now()
        creator = UserModel.lookup(creator_id)
        if int(creator.follower_count) < self._settings.host_min_followers:
            raise NotEligibleToHost(f"Hosting needs {self._settings.host_min_followers} followers.")
        if new.scheduled_start is not None:
            self._check_schedule(new.scheduled_start, now)
        if new.ticket is not None:
            if new.scheduled_start is None:
                raise RuleViolated("Ticketed spaces must be scheduled, so buyers have time.", code="ticketed_must_be_scheduled")
            if self.ticket_rules is not None:
                self.ticket_rules.check_can_sell(creator_id)
        invited = [uid for uid in dict.fromkeys(new.invited_user_ids) if uid != creator_id]
        self._check_users_exist(invited)
        space = SpaceModel(
            space_id=new_id(now),
            state=SCHEDULED if new.scheduled_start else LIVE,
            title=new.title,
            title_lower=new.title.lower(),
            creator_id=creator_id,
            invited_user_ids=invited or None,
            topic_ids=list(dict.fromkeys(new.topics)) or None,
            lang=new.lang,
            participant_count=0,
            listener_count=0,
            subscriber_count=0,
            scheduled_start=new.scheduled_start,
            created_at=now,
            is_ticketed=new.ticket is not None,
            ticket_price_cents=new.ticket.price_cents if new.ticket else None,
            ticket_currency=new.ticket.currency if new.ticket else None,
            max_tickets=new.ticket.max_tickets if new.ticket else None,
            tickets_sold=0,
            tickets_held=0,
            recording=new.recording,
            clipping=new.clipping,
        )
        if space.state == LIVE:
            self._go_live(space, now, creating=True)
        else:
            tx = Transaction(self._connection)
            try:
                with tx:
                    tx.put("space", space, condition=SpaceModel.space_id.does_not_exist())
                    tx.change("host", UserModel(user_id=creator_id), [UserModel.scheduled_count.add(1)],
                              condition=UserModel.scheduled_count.does_not_exist()
                              | (UserModel.scheduled_count < self._settings.max_scheduled_per_host))
            except TransactWriteError as exc:
                if "host" in tx.failed_conditions(exc):
                    raise TooManyScheduled(
                        f"You already have {self._settings.max_scheduled_per_host} scheduled spaces.") from exc
                raise
            self._notify(SpaceChange.SCHEDULED, space)
        return space

    def start(self, actor_id: str, space_id: str) -> SpaceModel:
        space = self.get(space_id)
        self._require_creator(space, actor_id)
        if space.state != SCHEDULED:
            raise InvalidState(f"A {space.state} space cannot be started.")
        self._go_live(space, self._clock.now(), creating=False)
        return space

    def end(self, actor_id: str, space_id: str) -> SpaceModel:
        """The host (or the acting host) ends a live space; everyone is out."""
        space = self.get(space_id)
        if not space.holds_host_powers(actor_id):
            raise NotHost()
        return self._end(space)

    def end_by_staff(self, space_id: str) -> SpaceModel:
        """Trust and safety staff end any live space, as its host would: everyone is out, its
        worker stops. (Who is staff is checked by the caller.)"""
        return self._end(self.get(space_id))

    def close_hosted(self, user: UserModel) -> None:
        """End the live space ``user`` hosts and cancel every one they scheduled (which refunds
        each buyer of a ticketed one), as the host would — for account deletion and suspension.
        A space ended or cancelled meanwhile (a retry, a co-host, the unattended sweep) is skipped."""
        if user.hosting_space_id:
            _tolerate(lambda: self.end(user.user_id, str(user.hosting_space_id)))
        for space in SpaceModel.by_creator.query(user.user_id, filter_condition=SpaceModel.state == SCHEDULED):
            _tolerate(lambda: self.cancel(user.user_id, space.space_id))  # noqa: B023 - called at once

    def cancel(self, actor_id: str, space_id: str) -> SpaceModel:
        space = self.get(space_id)
        self._require_creator(space, actor_id)
        now = self._clock.now()
        tx = Transaction(self._connection)
        try:
            with tx:
                # A ticketed space owes its buyers refunds from this write on, crash or not.
                refunds = SpaceModel.mark_refunds_due(now) if space.is_ticketed else []
                tx.change("space", space, [SpaceModel.state.set(CANCELED), SpaceModel.ended_at.set(now), *refunds],
                          condition=SpaceModel.state == SCHEDULED)
                tx.change("host", UserModel(user_id=space.creator_id), [UserModel.scheduled_count.add(-1)])
        except TransactWriteError as exc:
            if "space" in tx.failed_conditions(exc):
                raise InvalidState("Only a scheduled space can be cancelled.") from exc
            raise
        space.refresh()
        self._publish(space, "space.updated", {"space_id": space.space_id, "state": space.state})
        self._notify(SpaceChange.CANCELED, space)
        return space

    def edit(self, actor_id: str, space_id: str, edit: SpaceEdit) -> SpaceModel:
        """Title, topics, clipping and (while scheduled) the start time and recording; host
        only, not once over."""
        space = self.get(space_id)
        self._require_creator(space, actor_id)
        if space.state in (ENDED, CANCELED):
            raise InvalidState(f"A {space.state} space cannot be edited.")
        previous_start = space.scheduled_start
        actions: list[Any] = []
        if edit.title is not None:
            actions += [SpaceModel.title.set(edit.title), SpaceModel.title_lower.set(edit.title.lower())]
        if edit.topics is not None:
            actions.append(SpaceModel.topic_ids.set(list(dict.fromkeys(edit.topics))) if edit.topics else SpaceModel.topic_ids.remove())
        if edit.clipping is not None:
            actions.append(SpaceModel.clipping.set(edit.clipping))
        condition: Any = SpaceModel.state.is_in(SCHEDULED, LIVE)
        if edit.recording is not None:
            if space.state != SCHEDULED:
                raise InvalidState("Recording is chosen before the space goes live.", code="recording_fixed")
            actions.append(SpaceModel.recording.set(edit.recording))
            condition = SpaceModel.state == SCHEDULED
        if edit.scheduled_start is not None:
            if space.state != SCHEDULED:
                raise InvalidState("Only a scheduled space can be rescheduled.")
            self._check_schedule(edit.scheduled_start, self._clock.now())
            actions.append(SpaceModel.scheduled_start.set(edit.scheduled_start))
            condition = SpaceModel.state == SCHEDULED
        if not actions:
            return space
        try:
            space.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":  # a transition won the race
                raise InvalidState() from exc
            raise
        self._publish(space, "space.updated", {"space_id": space.space_id, "title": space.title,
                                               "topic_ids": space.topic_ids or [], "recording": bool(space.recording),
                                               "clipping": bool(space.clipping)})
        if edit.scheduled_start is not None and edit.scheduled_start != previous_start:
            self._notify(SpaceChange.RESCHEDULED, space, previous_start)
        return space

    def end_unattended(self) -> list[str]:
        """End live spaces that have had no host and no co-host for the grace period."""
        cutoff = self._clock.now() - timedelta(minutes=self._settings.unattended_grace_minutes)
        ended = []
        for space in SpaceModel.by_state.query(LIVE, filter_condition=SpaceModel.unattended_since <= cutoff):
            try:
                self._end(space)
                ended.append(space.space_id)
            except InvalidState:
                continue  # ended meanwhile
        return ended

    # -- internals ---------------------------------------------------------------

    def _go_live(self, space: SpaceModel, now: datetime, creating: bool) -> None:
        """The space goes live with its host in the room, in one transaction with the host's
        "one live space at a time" claim."""
        user = UserModel(user_id=space.creator_id)
        tx = Transaction(self._connection)
        try:
            with tx:
                host_seated = self._membership.seat_host(tx, space, now)
                if creating:
                    space.state, space.started_at = LIVE, now
                    host_seated.apply_to_new(space)
                    tx.put("space", space, condition=SpaceModel.space_id.does_not_exist())
                    tx.change("host", user, [UserModel.hosting_space_id.set(space.space_id)],
                              condition=UserModel.hosting_space_id.does_not_exist())
                else:
                    tx.change("space", space, [SpaceModel.state.set(LIVE), SpaceModel.started_at.set(now),
                                               *host_seated.space_actions()],
                              condition=SpaceModel.state == SCHEDULED)
                    tx.change("host", user, [UserModel.hosting_space_id.set(space.space_id),
                                             UserModel.scheduled_count.add(-1)],
                              condition=UserModel.hosting_space_id.does_not_exist())
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "space" in failed:
                raise InvalidState("The space is no longer scheduled.") from exc
            if "host" in failed:
                raise AlreadyHosting() from exc
            raise
        if not creating:
            space.refresh()
        self._media.start(space.space_id, recording=bool(space.recording))
        self._publish(space, "space.updated", {"space_id": space.space_id, "state": LIVE,
                                               "recording": bool(space.recording), "clipping": bool(space.clipping)})
        self._notify(SpaceChange.LIVE, space)

    def _end(self, space: SpaceModel) -> SpaceModel:
        now = self._clock.now()
        tx = Transaction(self._connection)
        try:
            with tx:
                # Nobody holds host powers in an ended space.
                tx.change("space", space, [SpaceModel.state.set(ENDED), SpaceModel.ended_at.set(now),
                                           SpaceModel.acting_host_id.remove()],
                          condition=SpaceModel.state == LIVE)
                tx.change("host", UserModel(user_id=space.creator_id), [UserModel.hosting_space_id.remove()],
                          condition=UserModel.hosting_space_id == space.space_id)
        except TransactWriteError as exc:
            if "space" in tx.failed_conditions(exc):
                raise InvalidState("Only a live space can be ended.") from exc
            raise
        self._membership.empty_room(space.space_id)
        space.refresh()
        self._media.stop(space.space_id)
        self._publish(space, "space.ended", {"space_id": space.space_id, "ended_at": timestamp(now)})
        self._notify(SpaceChange.ENDED, space)
        return space

    def _check_schedule(self, start: datetime, now: datetime) -> None:
        if start <= now or start > now + timedelta(days=self._settings.schedule_horizon_days):
            raise InvalidSchedule(
                f"The start time must be in the future and at most {self._settings.schedule_horizon_days} days ahead.")

    def _check_users_exist(self, user_ids: list[str]) -> None:
        if not user_ids:
            return
        found = {u.user_id for u in UserModel.batch_get(user_ids, attributes_to_get=["user_id"])}
        missing = [u for u in user_ids if u not in found]
        if missing:
            raise UserNotFound(f"No such user: {missing[0]}.")

    @staticmethod
    def _require_creator(space: SpaceModel, actor_id: str) -> None:
        if space.creator_id != actor_id:
            raise NotHost()

    def _publish(self, space: SpaceModel, kind: str, data: dict) -> None:
        self._events.publish(RoomEvent(kind, space.space_id, self._clock.now(), data))

    def _notify(self, change: SpaceChange, space: SpaceModel, previous_start: datetime | None = None) -> None:
        for observer in self.observers:
            observer.space_changed(change, space, previous_start)


def _tolerate(step: Callable[[], object]) -> None:
    try:
        step()
    except (InvalidState, SpaceNotFound):
        pass


__all__ = ["STATES", "NewSpace", "SpaceChange", "SpaceEdit", "SpaceObserver", "SpaceService", "TicketTerms"]
