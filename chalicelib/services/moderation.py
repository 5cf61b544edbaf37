"""Moderating a live space: approve, invite, demote, name or demote a co-host, mute,
remove and ban — each checked against the rules in ``permissions.py`` and written to the
space's audit log, which the host can read.
"""

from __future__ import annotations

from typing import Any, Callable

from chalicelib.clock import Clock
from chalicelib.errors import Conflict, Forbidden, InvalidState, NotInSpace
from chalicelib.events import EVERYONE, USERS, EventPublisher, RoomEvent
from chalicelib.gateways.media import MediaGateway
from chalicelib.ids import new_id
from chalicelib.models.audit import AuditEntryModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.participants import BANNED, REMOVED, STAGE_ROLES, ParticipantModel
from chalicelib.models.spaces import LIVE, SCHEDULED, SpaceModel
from chalicelib.models.users import UserModel
from chalicelib.services import permissions
from chalicelib.services.membership import Membership, incognito_audience
from parlor_contract.media import ControlAction


class Moderation:
    def __init__(self, clock: Clock, membership: Membership, events: EventPublisher, media: MediaGateway,
                 on_ban: Callable[[str, str], object] | None = None):
        self._clock = clock
        self._membership = membership
        self._events = events
        self._media = media
        # Told (space_id, user_id) after each ban: ticketing refunds a banned ticket holder.
        self._on_ban = on_ban

    def set_role(self, actor_id: str, space_id: str, target_id: str, new_role: str) -> ParticipantModel:
        """Approve a request, invite a listener, demote a speaker, name or demote a co-host."""
        space, actor, target = self._context(actor_id, space_id, target_id)
        permissions.check_set_role(actor, _target(space, target), new_role)
        old_role = target.role
        if new_role == old_role:
            return target
        self._membership.change_role(target, new_role)
        self._audit(space_id, actor_id, "set_role", target_id, {"from": old_role, "to": new_role})
        self._publish(space_id, "participant.role_changed", {"user_id": target_id, "from": old_role, "role": new_role})
        self._media.control(space_id, ControlAction.SET_ROLE, user_id=target_id, role=new_role)
        target.refresh()
        return target

    def mute(self, actor_id: str, space_id: str, target_id: str) -> ParticipantModel:
        """Hosts and co-hosts mute people on stage below them; anyone on stage mutes themselves."""
        space, actor, target = self._context(actor_id, space_id, target_id)
        if target.role not in STAGE_ROLES:
            raise Conflict("Only people on stage can be muted.", code="not_speaking")
        permissions.check_mute(actor, _target(space, target))
        self._membership.set_muted(target, True)
        if actor_id != target_id:
            self._audit(space_id, actor_id, "mute", target_id)
        self._publish(space_id, "participant.muted", {"user_id": target_id, "by": actor_id})
        self._media.control(space_id, ControlAction.MUTE, user_id=target_id)
        return target

    def remove(self, actor_id: str, space_id: str, target_id: str, ban: bool) -> None:
        """Remove someone below you; with ``ban`` they cannot come back. Before a space starts,
        the host may exclude (ban) people in advance."""
        space = SpaceModel.lookup(space_id)
        actor = self._membership.actor(space, actor_id)
        target = self._membership.find(space_id, target_id)
        if target is None or not target.present:
            self._ban_absent(space, actor, target_id, target, ban)
            return
        permissions.check_remove(actor, _target(space, target))
        self._membership.exit(target, BANNED if ban else REMOVED)
        self._audit(space_id, actor_id, "ban" if ban else "remove", target_id)
        if ban and self._on_ban is not None:
            self._on_ban(space_id, target_id)
        removed = {"user_id": target_id, "banned": ban}
        if target.incognito:  # the room never saw them come: only the hosts and they see them go
            self._events.publish(RoomEvent("participant.removed", space_id, self._clock.now(), removed, audience=USERS,
                                           user_ids=incognito_audience(space, target_id)))
        else:
            self._publish(space_id, "participant.removed", removed)
        self._media.control(space_id, ControlAction.REMOVE, user_id=target_id)

    def audit_log(self, actor_id: str, space_id: str, cursor: str | None,
                  limit: int) -> tuple[list[AuditEntryModel], str | None]:
        """The space's moderation log, newest first; for whoever holds host powers."""
        space = SpaceModel.lookup(space_id)
        permissions.require_host_powers(self._membership.actor(space, actor_id))
        result = AuditEntryModel.query(space_id, scan_index_forward=False, limit=limit,
                                       last_evaluated_key=decode_cursor(cursor, AuditEntryModel))
        entries = list(result)
        return entries, encode_cursor(result.last_evaluated_key)

    # -- internals -------------------------------------------------------------------

    def _ban_absent(self, space: SpaceModel, actor: permissions.Actor, target_id: str, existing: ParticipantModel | None,
                    ban: bool) -> None:
        if not ban:
            raise NotInSpace()
        if space.state not in (SCHEDULED, LIVE):
            raise InvalidState()
        if space.state == SCHEDULED:
            permissions.require_host_powers(actor)
        else:
            permissions.require_moderator(actor)
        if target_id == space.creator_id:
            raise Forbidden("Nobody may do that to the host.", code="cannot_target_host")
        if existing is None:
            UserModel.lookup(target_id, attributes_to_get=["user_id"])  # an advance ban names a real user (404)
        self._membership.ban_absent(space.space_id, target_id, existing)
        self._audit(space.space_id, actor.user_id, "ban", target_id, {"present": False})
        if self._on_ban is not None:
            self._on_ban(space.space_id, target_id)

    def _context(self, actor_id: str, space_id: str, target_id: str
                 ) -> tuple[SpaceModel, permissions.Actor, ParticipantModel]:
        space = SpaceModel.lookup(space_id)
        if space.state != LIVE:
            raise InvalidState("The space is not live.")
        actor = self._membership.actor(space, actor_id)
        target = self._membership.find(space_id, target_id)
        if target is None or not target.present:
            if not actor.moderates and actor_id != target_id:
                permissions.require_moderator(actor)
            raise NotInSpace()
        return space, actor, target

    def _audit(self, space_id: str, actor_id: str, action: str, target_id: str | None,
               details: dict[str, Any] | None = None) -> None:
        now = self._clock.now()
        AuditEntryModel(space_id=space_id, entry_id=new_id(now), at=now, actor_id=actor_id, action=action,
                        target_id=target_id, details=details).save()

    def _publish(self, space_id: str, kind: str, data: dict[str, Any]) -> None:
        self._events.publish(RoomEvent(kind, space_id, self._clock.now(), data, audience=EVERYONE))


def _target(space: SpaceModel, participant: ParticipantModel) -> permissions.Target:
    return permissions.Target(participant.user_id, participant.role, participant.user_id == space.creator_id)
