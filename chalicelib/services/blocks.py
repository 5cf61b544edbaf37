"""Blocking someone, with what it means in the rooms I host: the block itself is the social
graph's (``SocialGraph.block``); here a person I block is also put out of every live space
where I hold host powers, as a host's ban does (audited, the media worker told), so they
cannot come back to it. Spaces I merely listen to or speak in are left alone: a block keeps
them away from me, it does not keep me away from a room they are in.
"""

from __future__ import annotations

from chalicelib.errors import Forbidden
from chalicelib.models.participants import OnStageModel
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.services.membership import Membership
from chalicelib.services.moderation import Moderation
from chalicelib.services.social import SocialGraph


class Blocking:
    def __init__(self, social: SocialGraph, membership: Membership, moderation: Moderation):
        self._social = social
        self._membership = membership
        self._moderation = moderation

    def block(self, blocker_id: str, blocked_id: str) -> bool:
        """Block (idempotent: False if already blocked), then ban them from the live spaces I
        host. The rooms are put in order on every call, so a retry finishes what a failure left."""
        changed = self._social.block(blocker_id, blocked_id)
        for space in self._hosted_live(blocker_id):
            target = self._membership.find(space.space_id, blocked_id)
            if target is None or not target.present:
                continue
            try:
                self._moderation.remove(blocker_id, space.space_id, blocked_id, ban=True)
            except Forbidden:
                pass  # they created the space (I act for them as co-host): nobody removes its host
        return changed

    def unblock(self, blocker_id: str, blocked_id: str) -> bool:
        """Unblock; nothing else is undone (no follow comes back, a ban from a room stays)."""
        return self._social.unblock(blocker_id, blocked_id)

    @staticmethod
    def _hosted_live(user_id: str) -> list[SpaceModel]:
        """The live spaces where ``user_id`` holds host powers (they are on stage in each)."""
        try:
            space_ids = list(OnStageModel.get(user_id).space_ids or ())
        except OnStageModel.DoesNotExist:
            return []
        if not space_ids:
            return []
        return [s for s in SpaceModel.batch_get(space_ids) if s.state == LIVE and s.holds_host_powers(user_id)]
