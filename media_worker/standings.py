"""The API's latest word on each user of the room, so that an admission the API granted
before a later decision (a demotion, a mute, a removal or ban racing the relayed offer)
yields to that decision. Every grant and every control call is stamped with when the API
decided it (``decided_at``, Unix ms); the later decision wins, whichever arrives first."""

from __future__ import annotations

from dataclasses import dataclass

from parlor_contract.media import MediaGrant

OUT = None  # the role of someone the API took out of the room (left, removed, banned)


@dataclass
class Standing:
    role: str | None = OUT
    role_decided_at: int = -1
    muted: bool = False
    muted_decided_at: int = -1


class Standings:
    def __init__(self) -> None:
        self._by_user: dict[str, Standing] = {}

    def set_role(self, user_id: str, role: str | None, decided_at: int) -> bool:
        """Record a role (``OUT``: removed); False if a later decision is already known."""
        standing = self._by_user.setdefault(user_id, Standing())
        if decided_at < standing.role_decided_at:
            return False
        standing.role, standing.role_decided_at = role, decided_at
        return True

    def set_muted(self, user_id: str, muted: bool, decided_at: int) -> bool:
        standing = self._by_user.setdefault(user_id, Standing())
        if decided_at < standing.muted_decided_at:
            return False
        standing.muted, standing.muted_decided_at = muted, decided_at
        return True

    def admit(self, grant: MediaGrant) -> tuple[str, bool] | None:
        """The role and mute to admit ``grant``'s user with: the grant's, unless the API decided
        otherwise later; None if it has taken them out of the room since."""
        self.set_role(grant.user_id, str(grant.role), grant.decided_at)
        self.set_muted(grant.user_id, grant.muted, grant.decided_at)
        standing = self._by_user[grant.user_id]
        return None if standing.role is OUT else (standing.role, standing.muted)
