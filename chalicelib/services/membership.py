"""Membership: who is in a space and in which role. Every participant and on-stage write
is made here, and nowhere else.

Someone's place in a live room is either absent or a role. Every change of place — join,
leave, a role change, removal or ban, the host taking their seat as the space starts, and
everyone leaving when it ends — is a ``Move`` (``room_moves.py``), written here in one
transaction with the participant's own row and the room's bookkeeping.

Who holds host powers follows from membership too: the creator while present, else the
first co-host, else nobody — and then the space is unattended and ends by itself after a
while (``SpaceService.end_unattended``). Moves of hosts and co-hosts keep that true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.clock import Clock
from chalicelib.errors import Banned, Conflict, DomainError, InvalidState, RoleLimitReached
from chalicelib.events import EventPublisher, RoomEvent
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.participants import (
    BANNED,
    COHOST,
    HLS,
    HOST,
    LEFT,
    LISTENER,
    PRESENT,
    REMOVED,
    STAGE_ROLES,
    WEBRTC,
    OnStageModel,
    ParticipantModel,
)
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.services import permissions
from chalicelib.services.room_moves import ROLE_LIMITS, Move


class Membership:
    def __init__(self, connection: Connection, clock: Clock, events: EventPublisher):
        self._connection = connection
        self._clock = clock
        self._events = events

    # -- reading -----------------------------------------------------------------------

    @staticmethod
    def find(space_id: str, user_id: str) -> ParticipantModel | None:
        return ParticipantModel.find(space_id, user_id)

    @staticmethod
    def present(space_id: str) -> list[ParticipantModel]:
        return list(ParticipantModel.query(space_id, filter_condition=ParticipantModel.status == PRESENT))

    @staticmethod
    def raised_hands(space_id: str) -> list[ParticipantModel]:
        """Speak requests, in no particular order (``RoomService.speak_requests`` orders them)."""
        return list(ParticipantModel.query(space_id, filter_condition=(ParticipantModel.status == PRESENT)
                                           & ParticipantModel.hand_raised_at.exists()))

    @staticmethod
    def on_stage(space: SpaceModel) -> list[ParticipantModel]:
        """The present host, co-hosts and speakers (at most 13): one BatchGetItem of the ids the
        space item keeps, so the stage never costs a read of the audience."""
        ids = dict.fromkeys([space.creator_id, *sorted(space.cohost_ids or ()), *sorted(space.speaker_ids or ())])
        found = ParticipantModel.batch_get([(space.space_id, user_id) for user_id in ids])
        return [p for p in found if p.present and p.role in STAGE_ROLES]

    @staticmethod
    def listeners(space_id: str, cursor: str | None, limit: int,
                  incognito_too: bool = True) -> tuple[list[ParticipantModel], str | None]:
        """A page of the present listeners, in user id order (without the incognito ones, unless
        ``incognito_too``)."""
        condition = (ParticipantModel.status == PRESENT) & (ParticipantModel.role == LISTENER)
        if not incognito_too:
            condition = condition & ParticipantModel.incognito.does_not_exist()
        result = ParticipantModel.query(space_id, filter_condition=condition,
                                        limit=limit, last_evaluated_key=decode_cursor(cursor, ParticipantModel))
        return list(result), encode_cursor(result.last_evaluated_key)

    @staticmethod
    def require_present(space: SpaceModel, user_id: str, absent: DomainError) -> ParticipantModel:
        """Someone's record in a live space: banned people get 403, people not in the room ``absent``."""
        if space.state != LIVE:
            raise InvalidState("The space is not live.")
        participant = ParticipantModel.find(space.space_id, user_id)
        if participant is not None and participant.status == BANNED:
            raise Banned()
        if participant is None or not participant.present:
            raise absent
        return participant

    def actor(self, space: SpaceModel, user_id: str) -> permissions.Actor:
        """Who is acting, for the permission rules (banned people get 403 here)."""
        participant = ParticipantModel.find(space.space_id, user_id)
        if participant is not None and participant.status == BANNED:
            raise Banned()
        role = participant.role if participant is not None and participant.present else None
        return permissions.Actor(user_id, role, space.holds_host_powers(user_id))

    # -- moves -------------------------------------------------------------------------

    def enter(self, space_id: str, user_id: str, role: str, transport: str = WEBRTC,
              webrtc_cap: int | None = None, incognito: bool = False) -> set[str]:
        """Someone enters a live space in a role (if they are not in it and not banned, and
        the role has room) — a listener by ``transport``, on WebRTC only while fewer than
        ``webrtc_cap`` listeners are, and ``incognito`` if they asked (listeners only). Returns
        the labels of the failed conditions, empty on success: ``participant`` (already in, or
        banned) or ``space`` (not live, or the role or the WebRTC seats are full)."""
        now = self._clock.now()
        transport = transport if role == LISTENER else WEBRTC
        participant = ParticipantModel(space_id=space_id, user_id=user_id, role=role, status=PRESENT, muted=False,
                                       transport=transport, joined_at=now, updated_at=now,
                                       incognito=True if incognito and role == LISTENER else None)
        may_enter = ParticipantModel.user_id.does_not_exist() | ParticipantModel.status.is_in(LEFT, REMOVED)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("participant", participant, condition=may_enter)
                self._bookkeep(tx, space_id, Move(user_id, None, role, after_transport=transport, webrtc_cap=webrtc_cap),
                               space_must_be_live=True)
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if not failed:
                raise
            return failed
        return set()

    def listen_through_hls(self, participant: ParticipantModel) -> None:
        """A present WebRTC listener moves to HLS (they asked to), freeing a WebRTC seat."""
        move = Move(participant.user_id, LISTENER, LISTENER, before_transport=participant.transport, after_transport=HLS)
        tx = Transaction(self._connection)
        try:
            with tx:
                on_webrtc = ParticipantModel.transport.does_not_exist() | (ParticipantModel.transport == WEBRTC)
                tx.change("participant", participant, [ParticipantModel.transport.set(HLS)],
                          condition=self._unchanged(participant) & on_webrtc)
                self._bookkeep(tx, participant.space_id, move, space_must_be_live=True)
        except TransactWriteError as exc:
            if tx.failed_conditions(exc):
                raise Conflict("The participant changed meanwhile; try again.", code="participant_changed") from exc
            raise
        participant.transport = HLS

    def change_role(self, participant: ParticipantModel, new_role: str) -> None:
        """A present participant takes another role, if it has room; raises 409 if they
        changed meanwhile or the role is full."""
        # Whoever changes role hears the room on WebRTC from then on: on stage they must (a
        # listener invited up joins again and gets a WebRTC offer), and one sent back to the
        # audience keeps the connection they have.
        move = Move(participant.user_id, participant.role, new_role, before_transport=participant.transport)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("participant", participant, [ParticipantModel.role.set(new_role),
                                                       ParticipantModel.transport.set(WEBRTC),
                                                       ParticipantModel.hand_raised_at.remove(),
                                                       ParticipantModel.incognito.remove(),  # on stage, seen
                                                       ParticipantModel.updated_at.set(self._clock.now())],
                          condition=self._unchanged(participant))
                self._bookkeep(tx, participant.space_id, move, space_must_be_live=True)
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "participant" in failed:
                raise Conflict("The participant changed meanwhile; try again.", code="participant_changed") from exc
            if "space" in failed:
                raise RoleLimitReached(f"A space has at most {ROLE_LIMITS.get(new_role)} {new_role}s.") from exc
            raise
        if COHOST in (participant.role, new_role):
            self._hosts_changed(participant.space_id)

    def exit(self, participant: ParticipantModel, status: str) -> None:
        """A present participant leaves (``LEFT``), is removed or banned. They give up any
        stage role but the host's (the creator is the host whenever they come back)."""
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("participant", participant, self._leaving(participant, status),
                          condition=self._unchanged(participant))
                self._bookkeep(tx, participant.space_id, Move(participant.user_id, participant.role, None,
                                                              before_transport=participant.transport),
                               space_must_be_live=False)
        except TransactWriteError as exc:
            if "participant" in tx.failed_conditions(exc):
                raise Conflict("The participant changed meanwhile; try again.", code="participant_changed") from exc
            raise
        if participant.role in (HOST, COHOST):
            self._hosts_changed(participant.space_id)

    def seat_host(self, tx: Transaction, space: SpaceModel, now: datetime) -> Move:
        """The creator takes the host's seat as the space goes live, inside the caller's
        transaction. The caller writes the space item itself (an item appears once in a
        transaction), with the returned move's bookkeeping."""
        move = Move(space.creator_id, None, HOST)
        tx.put("participant", ParticipantModel(space_id=space.space_id, user_id=space.creator_id, role=HOST,
                                               status=PRESENT, muted=False, joined_at=now, updated_at=now))
        self._on_stage(tx, space.space_id, move)
        return move

    def empty_room(self, space_id: str) -> None:
        """The space ended: everyone is out, and nobody is on stage there any more. The
        space and the participants keep their last counts and roles (the room as it ended)."""
        for participant in self.present(space_id):
            participant.update(actions=[ParticipantModel.status.set(LEFT), ParticipantModel.updated_at.set(self._clock.now())])
            stage = Move(participant.user_id, participant.role, None).on_stage_actions(space_id)
            if stage:
                OnStageModel(user_id=participant.user_id).update(actions=stage)

    def ban_absent(self, space_id: str, user_id: str, existing: ParticipantModel | None) -> None:
        """Ban someone who is not in the room (the host may exclude people in advance);
        ``existing`` is their record from an earlier visit, if any."""
        now = self._clock.now()
        if existing is None:
            ParticipantModel(space_id=space_id, user_id=user_id, role=LISTENER, status=BANNED, muted=False,
                             updated_at=now).save()
        else:
            existing.update(actions=[ParticipantModel.status.set(BANNED), ParticipantModel.updated_at.set(now)],
                            condition=ParticipantModel.status != PRESENT)

    # -- flags -------------------------------------------------------------------------

    def raise_hand(self, participant: ParticipantModel) -> bool:
        """Returns True if the hand went up now (False if it was already up)."""
        if participant.hand_raised_at is not None:
            return False
        participant.update(actions=[ParticipantModel.hand_raised_at.set(self._clock.now())],
                           condition=ParticipantModel.status == PRESENT)
        return True

    def lower_hand(self, participant: ParticipantModel) -> None:
        if participant.hand_raised_at is not None:
            participant.update(actions=[ParticipantModel.hand_raised_at.remove()])

    def set_muted(self, participant: ParticipantModel, muted: bool) -> bool:
        """Returns True if the flag changed."""
        if bool(participant.muted) == muted:
            return False
        # Muting someone who left meanwhile must fail; unmuting yourself needs no such care.
        participant.update(actions=[ParticipantModel.muted.set(muted)],
                           condition=ParticipantModel.status == PRESENT if muted else None)
        return True

    # -- internals ---------------------------------------------------------------------

    def _hosts_changed(self, space_id: str) -> None:
        """Keep the acting host true after a host or co-host came, went or changed role."""
        space = SpaceModel.lookup(space_id, consistent_read=True)
        previous = space.acting_host_id
        creator = ParticipantModel.find(space_id, space.creator_id)
        cohosts = sorted(space.cohost_ids or ())
        acting: str | None
        if creator is not None and creator.present:
            acting = space.creator_id
        else:
            acting = cohosts[0] if cohosts else None
        actions: list[Any] = [SpaceModel.acting_host_id.set(acting) if acting else SpaceModel.acting_host_id.remove()]
        if acting:
            actions.append(SpaceModel.unattended_since.remove())
        elif space.unattended_since is None:
            actions.append(SpaceModel.unattended_since.set(self._clock.now()))
        space.update(actions=actions)
        if acting != previous:
            self._events.publish(RoomEvent("space.updated", space_id, self._clock.now(),
                                           {"space_id": space_id, "acting_host_id": acting}))

    def _leaving(self, participant: ParticipantModel, status: str) -> list[Any]:
        return [ParticipantModel.status.set(status), ParticipantModel.role.set(HOST if participant.role == HOST else LISTENER),
                ParticipantModel.muted.set(False), ParticipantModel.hand_raised_at.remove(),
                ParticipantModel.updated_at.set(self._clock.now())]

    @staticmethod
    def _unchanged(participant: ParticipantModel) -> Any:
        return (ParticipantModel.status == PRESENT) & (ParticipantModel.role == participant.role)

    def _bookkeep(self, tx: Transaction, space_id: str, move: Move, space_must_be_live: bool) -> None:
        condition = move.room_condition()
        if space_must_be_live:
            condition = SpaceModel.state == LIVE if condition is None else (SpaceModel.state == LIVE) & condition
        tx.change("space", SpaceModel(space_id=space_id), move.space_actions(), condition=condition)
        self._on_stage(tx, space_id, move)

    @staticmethod
    def _on_stage(tx: Transaction, space_id: str, move: Move) -> None:
        actions = move.on_stage_actions(space_id)
        if actions:
            tx.change("on_stage", OnStageModel(user_id=move.user_id), actions)


def incognito_audience(space: SpaceModel, user_id: str) -> tuple[str, ...]:
    """Who hears of an incognito listener's comings and goings: they, the host and the co-hosts."""
    return tuple(dict.fromkeys([user_id, *space.host_ids]))
