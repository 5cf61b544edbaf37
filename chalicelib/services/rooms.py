"""Who is in a live space and in which role: join, leave, raise a hand, approve, invite,
demote, mute, remove, ban. Every moderation action lands in the space's audit log.

Role limits (2 co-hosts, 10 speakers) are conditions on the size of the space's role sets,
written in the same transaction as the participant's new role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import size

from chalicelib.clock import Clock
from chalicelib.errors import Banned, Conflict, DomainError, Forbidden, InvalidState, NotInSpace, RoleLimitReached, TicketRequired
from chalicelib.events import EVERYONE, HOSTS, EventPublisher, RoomEvent
from chalicelib.gateways.media import MediaEndpoint, MediaGateway
from chalicelib.ids import new_id
from chalicelib.models.audit import AuditEntryModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.participants import (
    BANNED,
    COHOST,
    HOST,
    LEFT,
    LISTENER,
    PRESENT,
    REMOVED,
    SPEAKER,
    STAGE_ROLES,
    OnStageModel,
    ParticipantModel,
)
from chalicelib.models.spaces import LIVE, SCHEDULED, SpaceModel
from chalicelib.models.transactions import Transaction
from chalicelib.services import permissions
from chalicelib.services.spaces import SpaceService
from chalicelib.services.tokens import RoomTokens

MAX_COHOSTS = 2
MAX_SPEAKERS = 10
_ROLE_SET = {COHOST: SpaceModel.cohost_ids, SPEAKER: SpaceModel.speaker_ids}
_ROLE_LIMIT = {COHOST: MAX_COHOSTS, SPEAKER: MAX_SPEAKERS}


class Admission(Protocol):
    """Who may enter a space beyond the host, co-hosts and invited speakers (tickets)."""

    def admits(self, space: SpaceModel, user_id: str) -> bool: ...


class TicketHolderAdmission:
    """Until ticketing answers, a ticketed space admits nobody beyond its guests."""

    def admits(self, space: SpaceModel, user_id: str) -> bool:
        return not space.is_ticketed


@dataclass(frozen=True)
class Joined:
    participant: ParticipantModel
    space: SpaceModel
    media: MediaEndpoint
    media_token: str
    realtime_token: str


class RoomService:
    def __init__(self, connection: Connection, clock: Clock, spaces: SpaceService, events: EventPublisher,
                 media: MediaGateway, tokens: RoomTokens, admission: Admission | None = None):
        self._connection = connection
        self._clock = clock
        self._spaces = spaces
        self._events = events
        self._media = media
        self._tokens = tokens
        self.admission: Admission = admission or TicketHolderAdmission()

    # -- joining and leaving -------------------------------------------------------

    def join(self, user_id: str, space_id: str) -> Joined:
        """Enter a live space. Joining again keeps the role and returns fresh tokens."""
        space = self._spaces.get(space_id)
        if space.state != LIVE:
            raise InvalidState(f"The space is {space.state}; only a live space can be joined.")
        current = ParticipantModel.find(space_id, user_id)
        if current is not None and current.status == BANNED:
            raise Banned()
        if current is not None and current.present:
            participant = current
            endpoint = self._media.endpoint(space_id)
        else:
            role = self._entry_role(space, user_id)
            endpoint = self._media.endpoint(space_id)  # before any write: a starting worker means "retry"
            participant = self._enter(space, user_id, role)
        return Joined(participant, space, endpoint, self._tokens.media(space_id, user_id, participant.role),
                      self._tokens.realtime(space_id, user_id, participant.role))

    def _entry_role(self, space: SpaceModel, user_id: str) -> str:
        """The role someone enters with; a ticketed space admits only ticket holders and guests."""
        is_creator = user_id == space.creator_id
        invited = user_id in (space.invited_user_ids or [])
        if not (is_creator or invited or self.admission.admits(space, user_id)):
            raise TicketRequired()
        if is_creator:
            return HOST
        return SPEAKER if invited and len(space.speaker_ids or ()) < MAX_SPEAKERS else LISTENER

    def _enter(self, space: SpaceModel, user_id: str, role: str) -> ParticipantModel:
        is_creator = role == HOST
        failed = self._write_entry(space, user_id, role)
        if failed and role == SPEAKER and failed == {"space"}:
            role = LISTENER  # the stage filled up meanwhile (or the space ended): try as a listener
            failed = self._write_entry(space, user_id, role)
        if "participant" in failed:
            existing = ParticipantModel.find(space.space_id, user_id)
            if existing is not None and existing.present:
                return existing  # a concurrent join of the same user won
            raise Conflict("Could not join; try again.", code="join_conflict")
        if failed:
            raise InvalidState("The space is no longer live.")
        participant = ParticipantModel.find(space.space_id, user_id)
        assert participant is not None
        if is_creator:
            self._host_returned(space)
        self._publish(space.space_id, "participant.joined", {"user_id": user_id, "role": role})
        return participant

    def _write_entry(self, space: SpaceModel, user_id: str, role: str) -> set[str]:
        """Write the entry; returns the labels of failed conditions (empty on success)."""
        now = self._clock.now()
        participant = ParticipantModel(space_id=space.space_id, user_id=user_id, role=role, status=PRESENT, muted=False,
                                       joined_at=now, updated_at=now)
        may_enter = ParticipantModel.user_id.does_not_exist() | ParticipantModel.status.is_in(LEFT, REMOVED)
        space_actions: list[Any] = [SpaceModel.participant_count.add(1)]
        space_condition = SpaceModel.state == LIVE
        if role == LISTENER:
            space_actions.append(SpaceModel.listener_count.add(1))
        elif role in _ROLE_SET:
            space_actions.append(_ROLE_SET[role].add({user_id}))
            space_condition = space_condition & _room_for(role)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("participant", participant, condition=may_enter)
                tx.change("space", SpaceModel(space_id=space.space_id), space_actions, condition=space_condition)
                if role in STAGE_ROLES:
                    tx.change("on_stage", OnStageModel(user_id=user_id), [OnStageModel.space_ids.add({space.space_id})])
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if not failed:
                raise
            return failed
        return set()

    def leave(self, user_id: str, space_id: str) -> bool:
        """Leave; a no-op if not in the room. Stage roles other than host are given up."""
        space = self._spaces.get(space_id)
        participant = ParticipantModel.find(space_id, user_id)
        if participant is None or not participant.present:
            return False
        self._exit(space, participant, LEFT)
        self._publish(space_id, "participant.left", {"user_id": user_id})
        self._media.control(space_id, "remove", user_id=user_id)
        return True

    def _exit(self, space: SpaceModel, participant: ParticipantModel, status: str) -> None:
        now = self._clock.now()
        role = participant.role
        actions: list[Any] = [SpaceModel.participant_count.add(-1)]
        if role == LISTENER:
            actions.append(SpaceModel.listener_count.add(-1))
        elif role in _ROLE_SET:
            actions.append(_ROLE_SET[role].delete({participant.user_id}))
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("participant", participant,
                          [ParticipantModel.status.set(status), ParticipantModel.role.set(HOST if role == HOST else LISTENER),
                           ParticipantModel.muted.set(False), ParticipantModel.hand_raised_at.remove(),
                           ParticipantModel.updated_at.set(now)],
                          condition=(ParticipantModel.status == PRESENT) & (ParticipantModel.role == role))
                tx.change("space", SpaceModel(space_id=space.space_id), actions)
                if role in STAGE_ROLES:
                    tx.change("on_stage", OnStageModel(user_id=participant.user_id),
                              [OnStageModel.space_ids.delete({space.space_id})])
        except TransactWriteError as exc:
            if "participant" in tx.failed_conditions(exc):
                raise Conflict("The participant changed meanwhile; try again.", code="participant_changed") from exc
            raise
        if role in (HOST, COHOST):
            self._hosts_changed(space.space_id)

    # -- roles -------------------------------------------------------------------

    def set_role(self, actor_id: str, space_id: str, target_id: str, new_role: str) -> ParticipantModel:
        """Approve a request, invite a listener, demote a speaker, name or demote a co-host."""
        space, actor, target = self._moderation_context(actor_id, space_id, target_id)
        permissions.check_set_role(actor, permissions.Target(target.user_id, target.role, target.user_id == space.creator_id),
                                   new_role)
        old_role = target.role
        if new_role == old_role:
            return target
        now = self._clock.now()
        space_actions: list[Any] = []
        space_condition = SpaceModel.state == LIVE
        if old_role in _ROLE_SET:
            space_actions.append(_ROLE_SET[old_role].delete({target_id}))
        else:
            space_actions.append(SpaceModel.listener_count.add(-1))
        if new_role in _ROLE_SET:
            space_actions.append(_ROLE_SET[new_role].add({target_id}))
            space_condition = space_condition & _room_for(new_role)
        else:
            space_actions.append(SpaceModel.listener_count.add(1))
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.change("participant", target, [ParticipantModel.role.set(new_role), ParticipantModel.hand_raised_at.remove(),
                                                  ParticipantModel.updated_at.set(now)],
                          condition=(ParticipantModel.status == PRESENT) & (ParticipantModel.role == old_role))
                tx.change("space", SpaceModel(space_id=space_id), space_actions, condition=space_condition)
                presence = OnStageModel(user_id=target_id)
                if new_role in STAGE_ROLES and old_role not in STAGE_ROLES:
                    tx.change("on_stage", presence, [OnStageModel.space_ids.add({space_id})])
                elif new_role not in STAGE_ROLES and old_role in STAGE_ROLES:
                    tx.change("on_stage", presence, [OnStageModel.space_ids.delete({space_id})])
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "participant" in failed:
                raise Conflict("The participant changed meanwhile; try again.", code="participant_changed") from exc
            if "space" in failed:
                raise RoleLimitReached(f"A space has at most {_ROLE_LIMIT.get(new_role)} {new_role}s.") from exc
            raise
        if COHOST in (old_role, new_role):
            self._hosts_changed(space_id)
        self._audit(space_id, actor_id, "set_role", target_id, {"from": old_role, "to": new_role})
        self._publish(space_id, "participant.role_changed", {"user_id": target_id, "from": old_role, "role": new_role})
        self._media.control(space_id, "set_role", user_id=target_id, role=new_role)
        target.refresh()
        return target

    def raise_hand(self, user_id: str, space_id: str) -> ParticipantModel:
        participant = self._present(space_id, user_id)
        if participant.role != LISTENER:
            raise Conflict("You are already on stage.", code="already_speaking")
        if participant.hand_raised_at is None:
            participant.update(actions=[ParticipantModel.hand_raised_at.set(self._clock.now())],
                               condition=ParticipantModel.status == PRESENT)
            self._events.publish(RoomEvent("speak_request.created", space_id, self._clock.now(),
                                           {"user_id": user_id}, audience=HOSTS))
        return participant

    def lower_hand(self, user_id: str, space_id: str) -> ParticipantModel:
        participant = self._present(space_id, user_id)
        if participant.hand_raised_at is not None:
            participant.update(actions=[ParticipantModel.hand_raised_at.remove()])
        return participant

    def speak_requests(self, actor_id: str, space_id: str) -> list[ParticipantModel]:
        space = self._spaces.get(space_id)
        permissions.require_moderator(self._actor(space, actor_id))
        raised = ParticipantModel.query(space_id, filter_condition=(ParticipantModel.status == PRESENT)
                                        & ParticipantModel.hand_raised_at.exists())
        return sorted(raised, key=lambda p: p.hand_raised_at)

    # -- moderation ----------------------------------------------------------------

    def mute(self, actor_id: str, space_id: str, target_id: str) -> ParticipantModel:
        space, actor, target = self._moderation_context(actor_id, space_id, target_id)
        if target.role not in STAGE_ROLES:
            raise Conflict("Only people on stage can be muted.", code="not_speaking")
        permissions.check_mute(actor, permissions.Target(target.user_id, target.role, target.user_id == space.creator_id))
        target.update(actions=[ParticipantModel.muted.set(True)], condition=ParticipantModel.status == PRESENT)
        if actor_id != target_id:
            self._audit(space_id, actor_id, "mute", target_id)
        self._publish(space_id, "participant.muted", {"user_id": target_id, "by": actor_id})
        self._media.control(space_id, "mute", user_id=target_id)
        return target

    def unmute_self(self, user_id: str, space_id: str) -> ParticipantModel:
        participant = self._present(space_id, user_id)
        if participant.muted:
            participant.update(actions=[ParticipantModel.muted.set(False)])
            self._publish(space_id, "participant.unmuted", {"user_id": user_id})
            self._media.control(space_id, "unmute", user_id=user_id)
        return participant

    def remove(self, actor_id: str, space_id: str, target_id: str, ban: bool) -> None:
        """Remove someone below you; with ``ban`` they cannot come back. Before a space starts,
        the host may exclude (ban) people in advance."""
        space = self._spaces.get(space_id)
        actor = self._actor(space, actor_id)
        target = ParticipantModel.find(space_id, target_id)
        if target is None or not target.present:
            if not ban:
                raise NotInSpace()
            if space.state not in (SCHEDULED, LIVE):
                raise InvalidState()
            permissions.require_host_powers(actor) if space.state == SCHEDULED else permissions.require_moderator(actor)
            if target_id == space.creator_id:
                raise Forbidden("Nobody may do that to the host.", code="cannot_target_host")
            self._ban_absent(space_id, target_id, target)
            self._audit(space_id, actor_id, "ban", target_id, {"present": False})
            return
        permissions.check_remove(actor, permissions.Target(target.user_id, target.role, target.user_id == space.creator_id))
        self._exit(space, target, BANNED if ban else REMOVED)
        self._audit(space_id, actor_id, "ban" if ban else "remove", target_id)
        self._events.publish(RoomEvent("participant.removed", space_id, self._clock.now(),
                                       {"user_id": target_id, "banned": ban}))
        self._media.control(space_id, "remove", user_id=target_id)

    def _ban_absent(self, space_id: str, user_id: str, existing: ParticipantModel | None) -> None:
        now = self._clock.now()
        if existing is None:
            ParticipantModel(space_id=space_id, user_id=user_id, role=LISTENER, status=BANNED, muted=False,
                             updated_at=now).save()
        else:
            existing.update(actions=[ParticipantModel.status.set(BANNED), ParticipantModel.updated_at.set(now)],
                            condition=ParticipantModel.status != PRESENT)

    # -- reading -------------------------------------------------------------------

    def participants(self, space_id: str) -> list[ParticipantModel]:
        self._spaces.get(space_id)
        return list(ParticipantModel.query(space_id, filter_condition=ParticipantModel.status == PRESENT))

    def participant(self, space_id: str, user_id: str) -> ParticipantModel | None:
        return ParticipantModel.find(space_id, user_id)

    def audit_log(self, actor_id: str, space_id: str, cursor: str | None, limit: int) -> tuple[list[AuditEntryModel], str | None]:
        space = self._spaces.get(space_id)
        permissions.require_host_powers(self._actor(space, actor_id))
        result = AuditEntryModel.query(space_id, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor))
        entries = list(result)
        return entries, encode_cursor(result.last_evaluated_key)

    # -- internals -------------------------------------------------------------------

    def _moderation_context(self, actor_id: str, space_id: str, target_id: str
                            ) -> tuple[SpaceModel, permissions.Actor, ParticipantModel]:
        space = self._spaces.get(space_id)
        if space.state != LIVE:
            raise InvalidState("The space is not live.")
        actor = self._actor(space, actor_id)
        target = ParticipantModel.find(space_id, target_id)
        if target is None or not target.present:
            if not actor.moderates and actor_id != target_id:
                permissions.require_moderator(actor)
            raise NotInSpace()
        return space, actor, target

    def _actor(self, space: SpaceModel, user_id: str) -> permissions.Actor:
        participant = ParticipantModel.find(space.space_id, user_id)
        role = participant.role if participant is not None and participant.present else None
        if participant is not None and participant.status == BANNED:
            raise Banned()
        host_powers = user_id in (space.creator_id, space.acting_host_id)
        return permissions.Actor(user_id, role, host_powers)

    def _present(self, space_id: str, user_id: str) -> ParticipantModel:
        return require_present(self._spaces.get(space_id), user_id, NotInSpace("You are not in this space."))

    def _host_returned(self, space: SpaceModel) -> None:
        SpaceModel(space_id=space.space_id).update(actions=[SpaceModel.acting_host_id.set(space.creator_id),
                                                            SpaceModel.unattended_since.remove()])

    def _hosts_changed(self, space_id: str) -> None:
        """Keep the acting host true: the creator if present, else the first co-host, else
        nobody, and then the space is unattended (it ends by itself after a while)."""
        space = SpaceModel.get(space_id, consistent_read=True)
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
        if acting != space.acting_host_id:
            self._publish(space_id, "space.updated", {"space_id": space_id, "acting_host_id": acting})

    def _audit(self, space_id: str, actor_id: str, action: str, target_id: str | None,
               details: dict[str, Any] | None = None) -> None:
        now = self._clock.now()
        AuditEntryModel(space_id=space_id, entry_id=new_id(now), at=now, actor_id=actor_id, action=action,
                        target_id=target_id, details=details).save()

    def _publish(self, space_id: str, kind: str, data: dict[str, Any]) -> None:
        self._events.publish(RoomEvent(kind, space_id, self._clock.now(), data, audience=EVERYONE))


def _room_for(role: str) -> Any:
    roles = _ROLE_SET[role]
    return roles.does_not_exist() | (size(roles) < _ROLE_LIMIT[role])


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
