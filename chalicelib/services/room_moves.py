"""One person's change of place in a live room, and the bookkeeping it implies.

A place is absent (None) or a role — for a listener, also how they hear the room (WebRTC or
HLS). From a move follow, in one spelling: the space's counters (``participant_count``,
``listener_count``, and the listeners by transport), its role sets (``cohost_ids``,
``speaker_ids``, whose sizes cap the roles — conditions, so the caps hold under concurrent
promotions, as the WebRTC listeners' cap holds under concurrent joins), the user's on-stage
record that feeds the purple circles, and — when the creator takes the host's seat — who
holds host powers. Pure: it builds expressions, ``Membership`` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import size

from chalicelib.models.participants import COHOST, HLS, HOST, LISTENER, SPEAKER, STAGE_ROLES, WEBRTC, OnStageModel
from chalicelib.models.spaces import SpaceModel

MAX_COHOSTS = 2
MAX_SPEAKERS = 10
_ROLE_SETS = {COHOST: SpaceModel.cohost_ids, SPEAKER: SpaceModel.speaker_ids}
ROLE_LIMITS = {COHOST: MAX_COHOSTS, SPEAKER: MAX_SPEAKERS}


@dataclass(frozen=True)
class Move:
    """One person's change of place in a live room: from absent (None) or a role, to absent
    or a role. The single source of the room's bookkeeping."""

    user_id: str
    before: str | None
    after: str | None
    # A listener's transport before and after (None is WebRTC, as everyone on stage).
    before_transport: str | None = None
    after_transport: str | None = None
    # Set when the move may only seat a WebRTC listener while fewer than this many are.
    webrtc_cap: int | None = None

    @property
    def participants_delta(self) -> int:
        return (self.after is not None) - (self.before is not None)

    @property
    def listeners_delta(self) -> int:
        return (self.after == LISTENER) - (self.before == LISTENER)

    @property
    def hls_listeners_delta(self) -> int:
        return self._listens_on(self.after, self.after_transport, HLS) - self._listens_on(self.before, self.before_transport, HLS)

    @property
    def webrtc_listeners_delta(self) -> int:
        return (self._listens_on(self.after, self.after_transport, WEBRTC)
                - self._listens_on(self.before, self.before_transport, WEBRTC))

    @staticmethod
    def _listens_on(role: str | None, transport: str | None, which: str) -> bool:
        return role == LISTENER and (transport or WEBRTC) == which

    def space_actions(self) -> list[Any]:
        """The move as updates of the space item."""
        actions: list[Any] = []
        if self.participants_delta:
            actions.append(SpaceModel.participant_count.add(self.participants_delta))
        if self.listeners_delta:
            actions.append(SpaceModel.listener_count.add(self.listeners_delta))
        if self.webrtc_listeners_delta:
            actions.append(SpaceModel.webrtc_listener_count.add(self.webrtc_listeners_delta))
        if self.hls_listeners_delta:
            actions.append(SpaceModel.hls_listener_count.add(self.hls_listeners_delta))
        if self.before in _ROLE_SETS:
            actions.append(_ROLE_SETS[self.before].delete({self.user_id}))
        if self.after in _ROLE_SETS:
            actions.append(_ROLE_SETS[self.after].add({self.user_id}))
        if self.after == HOST:  # the creator is back: they run the room, which is attended again
            actions += [SpaceModel.acting_host_id.set(self.user_id), SpaceModel.unattended_since.remove()]
        return actions

    def apply_to_new(self, space: SpaceModel) -> None:
        """The same bookkeeping on a space item about to be created (a put, not an update)."""
        space.participant_count = int(space.participant_count or 0) + self.participants_delta
        space.listener_count = int(space.listener_count or 0) + self.listeners_delta
        space.webrtc_listener_count = int(space.webrtc_listener_count or 0) + self.webrtc_listeners_delta
        space.hls_listener_count = int(space.hls_listener_count or 0) + self.hls_listeners_delta
        if self.after in _ROLE_SETS:
            roles = set(getattr(space, _ROLE_SETS[self.after].attr_name) or ()) | {self.user_id}
            setattr(space, _ROLE_SETS[self.after].attr_name, roles)
        if self.after == HOST:
            space.acting_host_id = self.user_id

    def room_condition(self) -> Any | None:
        """There is room in the role moved into (and, for a capped WebRTC listener, a WebRTC seat)."""
        if self.webrtc_cap is not None and self.webrtc_listeners_delta > 0:
            seats = SpaceModel.webrtc_listener_count
            return seats.does_not_exist() | (seats < self.webrtc_cap)
        if self.after not in _ROLE_SETS:
            return None
        roles = _ROLE_SETS[self.after]
        return roles.does_not_exist() | (size(roles) < ROLE_LIMITS[self.after])

    def on_stage_actions(self, space_id: str) -> list[Any]:
        was, is_ = self.before in STAGE_ROLES, self.after in STAGE_ROLES
        if is_ and not was:
            return [OnStageModel.space_ids.add({space_id})]
        if was and not is_:
            return [OnStageModel.space_ids.delete({space_id})]
        return []
