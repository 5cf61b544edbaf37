"""Who may do what to whom in a space. Pure rules, no I/O, so the matrix is easy to read.

Rank: host powers (the creator, or the acting host while the creator is away) >
co-host > speaker = listener. Nobody may touch the creator; a co-host may not touch the
other co-host; naming or demoting a co-host needs host powers.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import Forbidden, NotHost, NotModerator
from chalicelib.models.participants import COHOST, HOST, LISTENER, SPEAKER

_RANK = {HOST: 3, COHOST: 2, SPEAKER: 1, LISTENER: 1}


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str | None  # the role in the room, None if not present
    host_powers: bool  # the creator, or the acting host

    @property
    def rank(self) -> int:
        return 3 if self.host_powers else _RANK.get(self.role or "", 0)

    @property
    def moderates(self) -> bool:
        return self.host_powers or self.role == COHOST


@dataclass(frozen=True)
class Target:
    user_id: str
    role: str
    is_creator: bool


def require_moderator(actor: Actor) -> None:
    if not actor.moderates:
        raise NotModerator()


def require_host_powers(actor: Actor) -> None:
    if not actor.host_powers:
        raise NotHost()


def _require_outranks(actor: Actor, target: Target) -> None:
    if target.is_creator:
        raise Forbidden("Nobody may do that to the host.", code="cannot_target_host")
    if actor.rank <= _RANK[target.role]:
        raise Forbidden("You may only do that to people below you.", code="insufficient_rank")


def check_set_role(actor: Actor, target: Target, new_role: str) -> None:
    """Approve, invite, demote, or name a co-host."""
    if new_role == HOST:
        raise Forbidden("The host cannot be changed.", code="cannot_target_host")
    stepping_down = actor.user_id == target.user_id and new_role == LISTENER and target.role in (SPEAKER, COHOST)
    if stepping_down:
        return
    require_moderator(actor)
    _require_outranks(actor, target)
    if new_role == COHOST or target.role == COHOST:
        require_host_powers(actor)


def check_mute(actor: Actor, target: Target) -> None:
    if actor.user_id == target.user_id:
        return  # anyone on stage may mute themselves
    require_moderator(actor)
    _require_outranks(actor, target)


def check_remove(actor: Actor, target: Target) -> None:
    if actor.user_id == target.user_id:
        raise Forbidden("Leave the space instead of removing yourself.", code="cannot_remove_self")
    require_moderator(actor)
    _require_outranks(actor, target)
