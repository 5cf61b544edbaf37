"""Being in a live space: join, leave, raise or lower a hand, unmute yourself, see who is
there. Who may moderate whom is ``services/moderation.py``; every write of a participant
is ``services/membership.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from chalicelib.clock import Clock
from chalicelib.errors import Banned, Blocked, Conflict, InvalidState, NoAudienceTier, NotInSpace, TicketRequired
from chalicelib.events import EVERYONE, HOSTS, USERS, EventPublisher, RoomEvent
from chalicelib.gateways.cdn import SignedAccess
from chalicelib.gateways.media import MediaGateway
from chalicelib.models.pagination import decode_cursor, page_sorted
from chalicelib.models.participants import BANNED, HLS, HOST, LEFT, LISTENER, ROLES, SPEAKER, WEBRTC, ParticipantModel
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.services import permissions
from chalicelib.services.membership import Membership, incognito_audience
from chalicelib.services.room_moves import MAX_SPEAKERS
from chalicelib.services.social import SocialGraph
from chalicelib.services.tokens import RoomTokens
from chalicelib.services.turn import NO_RELAY, RelayGrant, TurnCredentials
from parlor_contract.media import ControlAction


class Admission(Protocol):
    """Who may enter a space beyond the host, co-hosts and invited speakers (tickets)."""

    def admits(self, space: SpaceModel, user_id: str) -> bool: ...


class TicketHolderAdmission:
    """Until ticketing answers, a ticketed space admits nobody beyond its guests."""

    def admits(self, space: SpaceModel, user_id: str) -> bool:
        return not space.is_ticketed


@dataclass(frozen=True)
class ParticipantsPage:
    space: SpaceModel
    participants: list[ParticipantModel]
    next_cursor: str | None


def _raised_order(p: ParticipantModel) -> tuple[str, str]:
    assert p.hand_raised_at is not None
    return p.hand_raised_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), p.user_id


@dataclass(frozen=True)
class Joined:
    participant: ParticipantModel
    space: SpaceModel
    realtime_token: str
    relay: RelayGrant = NO_RELAY
    hls: SignedAccess | None = None  # for a listener hearing the room through HLS

    @property
    def transport(self) -> str:
        return HLS if self.hls is not None else WEBRTC


class LiveStreams(Protocol):
    """Signed access to a live space's HLS stream (``services.audience``)."""

    @property
    def available(self) -> bool: ...

    def live_access(self, space_id: str) -> SignedAccess: ...


class RoomService:
    def __init__(self, clock: Clock, membership: Membership, events: EventPublisher, media: MediaGateway,
                 tokens: RoomTokens, admission: Admission | None = None, relays: TurnCredentials | None = None,
                 streams: LiveStreams | None = None, webrtc_listener_cap: int | None = None,
                 social: SocialGraph | None = None):
        self._clock = clock
        self._social = social  # blocks: whom a space's creator keeps out
        self._streams = streams if streams is not None and streams.available else None
        # Without HLS there is nowhere else to put listeners: WebRTC for all, uncapped.
        self._webrtc_cap = webrtc_listener_cap if self._streams is not None else None
        self._membership = membership
        self._events = events
        self._media = media
        self._tokens = tokens
        self.admission: Admission = admission or TicketHolderAdmission()
        self._relays = relays

    # -- joining and leaving -------------------------------------------------------

    def join(self, user_id: str, space_id: str, transport: str | None = None, incognito: bool = False) -> Joined:
        """Enter a live space. Joining again keeps the role and returns fresh tokens (and a
        fresh HLS access: it is how a listener renews it). The stage hears the room over
        WebRTC; listeners too while the room has WebRTC seats, then through HLS — or when they
        ask for HLS (``transport``). Answers "retry" (503) until the room's media worker
        serves, so the offer that follows finds it. Someone the space's creator blocks may
        not enter (403 ``blocked``). A listener may enter ``incognito``: hidden from the other
        listeners and the speakers, seen by the hosts; it is ignored for whoever enters on
        stage, and a join while present keeps the setting of the first."""
        space = SpaceModel.lookup(space_id)
        if space.state != LIVE:
            raise InvalidState(f"The space is {space.state}; only a live space can be joined.")
        if self._social is not None and user_id != space.creator_id and self._social.blocks(space.creator_id, user_id):
            raise Blocked("The host of this space blocks you.")
        if transport == HLS and self._streams is None:
            raise NoAudienceTier("This deployment has no HLS stream; join without a transport.")
        current = self._membership.find(space_id, user_id)
        if current is not None and current.status == BANNED:
            raise Banned()
        if current is not None and current.present:
            participant = current
            self._media.endpoint(space_id)
            if transport == HLS and participant.role == LISTENER and not participant.hears_through_hls:
                self._membership.listen_through_hls(participant)
        else:
            role = self._entry_role(space, user_id, first_visit=current is None)
            self._media.endpoint(space_id)  # before any write: a starting worker means "retry"
            participant = self._enter(space, user_id, role, transport, incognito and role == LISTENER)
        hls = None
        if self._streams is not None and participant.role == LISTENER and participant.hears_through_hls:
            hls = self._streams.live_access(space_id)
        return Joined(participant, space, self._tokens.realtime(space_id, user_id, participant.role),
                      self._relays.grant(user_id) if self._relays and hls is None else NO_RELAY, hls)

    def offer(self, user_id: str, space_id: str, offer: dict[str, str]) -> dict[str, str]:
        """Relay someone's SDP offer to the room's worker, admitted as the API has them now:
        present (not left, removed or banned), in their role, with their mute. The worker
        takes only the single-use grant minted here, so audio obeys the room."""
        decided_at = self._clock.now()  # before reading: a later decision on them wins at the worker
        participant = self._membership.require_present(SpaceModel.lookup(space_id), user_id,
                                                       NotInSpace("Join the space before sending an offer."))
        if participant.role == LISTENER and participant.hears_through_hls:
            raise Conflict("You hear this space through HLS (its WebRTC seats were full when you joined): "
                           "play the hls.url that join gave.", code="listening_on_hls")
        grant = self._tokens.media_grant(space_id, user_id, participant.role, bool(participant.muted), decided_at)
        return self._media.offer(space_id, grant, offer)

    def _entry_role(self, space: SpaceModel, user_id: str, first_visit: bool) -> str:
        """The role someone enters with; a ticketed space admits only ticket holders and guests.
        An invitation puts someone on stage at their first entry only: one who left, or whom a
        host removed, comes back as a listener (and asks to speak again)."""
        is_creator = user_id == space.creator_id
        invited = user_id in (space.invited_user_ids or [])
        if not (is_creator or invited or self.admission.admits(space, user_id)):
            raise TicketRequired()
        if is_creator:
            return HOST
        return SPEAKER if invited and first_visit and len(space.speaker_ids or ()) < MAX_SPEAKERS else LISTENER

    def _enter(self, space: SpaceModel, user_id: str, role: str, transport: str | None,
               incognito: bool) -> ParticipantModel:
        wanted = HLS if transport == HLS else WEBRTC
        failed = self._membership.enter(space.space_id, user_id, role, wanted, self._webrtc_cap, incognito)
        if failed == {"space"} and role == SPEAKER:
            role = LISTENER  # the stage filled up meanwhile (or the space ended): try as a listener
            failed = self._membership.enter(space.space_id, user_id, role, wanted, self._webrtc_cap)
        if failed == {"space"} and role == LISTENER and wanted == WEBRTC and self._streams is not None:
            # The WebRTC seats are taken (or the space ended): the audience tier has room for all.
            failed = self._membership.enter(space.space_id, user_id, role, HLS, incognito=incognito)
        if "participant" in failed:
            existing = self._membership.find(space.space_id, user_id)
            if existing is not None and existing.present:
                return existing  # a concurrent join of the same user won
            raise Conflict("Could not join; try again.", code="join_conflict")
        if failed:
            raise InvalidState("The space is no longer live.")
        participant = self._membership.find(space.space_id, user_id)
        assert participant is not None
        if participant.incognito:
            self._publish_incognito(space, "participant.joined", {"user_id": user_id, "role": role, "incognito": True})
        else:
            self._publish(space.space_id, "participant.joined", {"user_id": user_id, "role": role})
        return participant

    def leave(self, user_id: str, space_id: str) -> bool:
        """Leave; a no-op if not in the room. Stage roles other than host are given up."""
        space = SpaceModel.lookup(space_id)
        participant = self._membership.find(space_id, user_id)
        if participant is None or not participant.present:
            return False
        self._membership.exit(participant, LEFT)
        if participant.incognito:
            self._publish_incognito(space, "participant.left", {"user_id": user_id})
        else:
            self._publish(space_id, "participant.left", {"user_id": user_id})
        self._media.control(space_id, ControlAction.REMOVE, user_id=user_id)
        return True

    # -- hands and your own microphone ------------------------------------------------

    def raise_hand(self, user_id: str, space_id: str) -> ParticipantModel:
        """Listeners ask to speak; the hosts hear of it (once, however often it is raised)."""
        participant = self._present(space_id, user_id)
        if participant.role != LISTENER:
            raise Conflict("You are already on stage.", code="already_speaking")
        if self._membership.raise_hand(participant):
            self._events.publish(RoomEvent("speak_request.created", space_id, self._clock.now(),
                                           {"user_id": user_id}, audience=HOSTS))
        return participant

    def lower_hand(self, user_id: str, space_id: str) -> ParticipantModel:
        participant = self._present(space_id, user_id)
        self._membership.lower_hand(participant)
        return participant

    def speak_requests(self, actor_id: str, space_id: str, cursor: str | None,
                       limit: int) -> tuple[list[ParticipantModel], str | None]:
        """Raised hands, oldest first, a page at a time; hosts and co-hosts only."""
        space = SpaceModel.lookup(space_id)
        permissions.require_moderator(self._membership.actor(space, actor_id))
        return page_sorted(self._membership.raised_hands(space_id), _raised_order, ("raised_at", "user_id"), cursor, limit)

    def unmute_self(self, user_id: str, space_id: str) -> ParticipantModel:
        """Only a speaker unmutes themselves (a host may mute, never unmute, someone)."""
        participant = self._present(space_id, user_id)
        if self._membership.set_muted(participant, False):
            self._publish(space_id, "participant.unmuted", {"user_id": user_id})
            self._media.control(space_id, ControlAction.UNMUTE, user_id=user_id)
        return participant

    # -- reading -------------------------------------------------------------------

    def participants(self, viewer_id: str, space_id: str, role: str | None, cursor: str | None,
                     limit: int) -> ParticipantsPage:
        """Who is in the room. The stage (host, co-hosts, speakers: at most 13) comes whole
        on the first page, as a client draws it at once; the listeners, who may be thousands,
        follow a page (``limit``) at a time. ``role`` keeps one role. Incognito listeners are
        listed to the host and co-hosts only (the counts include them for everyone)."""
        space = SpaceModel.lookup(space_id)
        moderator = space.holds_host_powers(viewer_id) or viewer_id in (space.cohost_ids or ())
        stage = [] if cursor or role == LISTENER else self._membership.on_stage(space)
        stage = sorted((p for p in stage if role in (None, p.role)), key=lambda p: (ROLES.index(p.role), p.user_id))
        if role not in (None, LISTENER):
            decode_cursor(cursor, ParticipantModel)  # a cursor is still checked; the stage has one page
            return ParticipantsPage(space, [] if cursor else stage, None)
        listeners, next_cursor = self._membership.listeners(space_id, cursor, limit, incognito_too=moderator)
        return ParticipantsPage(space, stage + listeners, next_cursor)

    # -- internals -------------------------------------------------------------------

    def _present(self, space_id: str, user_id: str) -> ParticipantModel:
        return self._membership.require_present(SpaceModel.lookup(space_id), user_id,
                                                NotInSpace("You are not in this space."))

    def _publish(self, space_id: str, kind: str, data: dict[str, Any]) -> None:
        self._events.publish(RoomEvent(kind, space_id, self._clock.now(), data, audience=EVERYONE))

    def _publish_incognito(self, space: SpaceModel, kind: str, data: dict[str, Any]) -> None:
        """An incognito listener's comings and goings: for the hosts, co-hosts and themselves."""
        self._events.publish(RoomEvent(kind, space.space_id, self._clock.now(), data, audience=USERS,
                                       user_ids=incognito_audience(space, data["user_id"])))
