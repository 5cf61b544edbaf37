"""Inside a live space: join, leave, participants, speak requests, roles, mute, remove, audit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.audience import StreamAccessOut, stream_access_out
from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import PageQuery, Query, Strict, Timestamp
from chalicelib.errors import Forbidden
from chalicelib.models.audit import AuditEntryModel
from chalicelib.models.participants import COHOST, HOST, LISTENER, SPEAKER, ParticipantModel
from chalicelib.wiring import services

router = Router(__name__, tag="rooms")


Role = Literal["host", "cohost", "speaker", "listener"]


class ParticipantOut(BaseModel):
    user_id: str
    role: Role
    muted: bool
    hand_raised: bool
    joined_at: Timestamp | None
    incognito: bool = Field(default=False, description="a listener hidden from the other listeners and the speakers "
                                                       "(only the hosts, co-hosts and they themselves see it)")


class Connection(BaseModel):
    url: str
    token: str


class IceServerOut(BaseModel):
    """An ``RTCIceServer`` as WebRTC takes it: a TURN relay and its short-lived credential."""

    urls: list[str]
    username: str
    credential: str


class MediaConnection(BaseModel):
    # POST the peer connection's offer (ICE gathering complete) to offer_url with the session
    # token; its answer comes back. Give ice_servers to the peer connection
    # (RTCConfiguration.iceServers); empty when no relay is configured. Past
    # ice_servers_expire_at they start no new relay: join again.
    offer_url: str
    ice_servers: list[IceServerOut]
    ice_servers_expire_at: Timestamp | None


class OfferIn(Strict):
    """An SDP offer with one audio section, its candidates gathered (no trickle)."""

    sdp: str = Field(min_length=1, max_length=14_000)
    type: Literal["offer"]


class AnswerOut(BaseModel):
    sdp: str
    type: Literal["answer"]


class JoinIn(Strict):
    """Optional. A listener may ask to hear the room through HLS (a few seconds behind, but
    from the CDN); without it, listeners get WebRTC while the room has WebRTC seats. A listener
    may join ``incognito``: not listed to the other listeners and the speakers, nor announced
    to them (the hosts and co-hosts still see them; the counts include them). Ignored for
    whoever enters on stage; going on stage ends it; a join while in the room keeps the first
    join's setting."""

    transport: Literal["webrtc", "hls"] | None = None
    incognito: bool = False


class JoinOut(BaseModel):
    """How to hear the room: ``transport`` says which of ``media`` (WebRTC: send an offer) and
    ``hls`` (play the signed playlist) is given. The stage is always on WebRTC."""

    participant: ParticipantOut
    transport: Literal["webrtc", "hls"]
    media: MediaConnection | None
    hls: StreamAccessOut | None
    realtime: Connection


class ParticipantsQuery(PageQuery):
    role: Literal["host", "cohost", "speaker", "listener"] | None = None
    limit: int = Field(default=100, ge=1, le=100, description="listeners per page; the stage comes whole")


class ParticipantsOut(BaseModel):
    """One page, grouped by role: the stage whole on the first page, then listeners a page at a
    time. The counts are the whole room's."""

    hosts: list[ParticipantOut]
    cohosts: list[ParticipantOut]
    speakers: list[ParticipantOut]
    listeners: list[ParticipantOut]
    participant_count: int
    listener_count: int
    next_cursor: str | None


class SpeakRequestsOut(BaseModel):
    requests: list[ParticipantOut]
    next_cursor: str | None


class SetRoleIn(Strict):
    role: Literal["cohost", "speaker", "listener"]


class RemoveQuery(Query):
    ban: bool = False


class AuditDetails(BaseModel):
    """What else an entry records: a role change's roles (``set_role``); for a ``ban`` of
    someone not in the room, ``present: false``."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    from_role: Role | None = Field(default=None, alias="from")
    to: Role | None = None
    present: bool | None = None


class AuditEntryOut(BaseModel):
    id: str
    at: Timestamp
    actor_id: str
    action: Literal["set_role", "mute", "remove", "ban"]
    target_id: str | None
    details: AuditDetails | None


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None


class Done(BaseModel):
    ok: bool


def participant_out(p: ParticipantModel) -> ParticipantOut:
    return ParticipantOut(user_id=p.user_id, role=p.role, muted=bool(p.muted), hand_raised=p.hand_raised_at is not None,  # type: ignore[arg-type]
                          joined_at=p.joined_at, incognito=bool(p.incognito))


def _audit_out(e: AuditEntryModel) -> AuditEntryOut:
    details = AuditDetails.model_validate(e.details.as_dict()) if e.details is not None else None
    return AuditEntryOut(id=e.entry_id, at=e.at, actor_id=e.actor_id, action=e.action,  # type: ignore[arg-type]
                         target_id=e.target_id, details=details)


@router.route("POST", "/v1/spaces/{space_id}/join", summary="Join a live space: media and realtime connection info",
              body=JoinIn, body_optional=True, response=JoinOut, retry_later=True)
def join(call: Call) -> JoinOut:
    s = services()
    space_id = call.params["space_id"]
    joined = s.rooms.join(call.me, space_id, call.body.transport, call.body.incognito)
    media = None
    if joined.hls is None:
        relay = joined.relay
        ice_servers = [IceServerOut(urls=list(i.urls), username=i.username, credential=i.credential)
                       for i in relay.ice_servers]
        media = MediaConnection(offer_url=s.settings.api_url + OFFER_ROUTE.format(space_id=space_id),
                                ice_servers=ice_servers, ice_servers_expire_at=relay.expires_at)
    return JoinOut(participant=participant_out(joined.participant), transport=joined.transport,  # type: ignore[arg-type]
                   media=media, hls=stream_access_out(joined.hls) if joined.hls is not None else None,
                   realtime=Connection(url=s.settings.realtime_url, token=joined.realtime_token))


OFFER_ROUTE = "/v1/spaces/{space_id}/media/offer"


@router.route("POST", OFFER_ROUTE, summary="Send your WebRTC offer; the room's media answer", body=OfferIn,
              response=AnswerOut, retry_later=True)
def media_offer(call: Call) -> AnswerOut:
    answer = services().rooms.offer(call.me, call.params["space_id"], call.body.model_dump())
    return AnswerOut(sdp=answer["sdp"], type="answer")


@router.route("POST", "/v1/spaces/{space_id}/leave", summary="Leave a space", response=Done)
def leave(call: Call) -> Done:
    return Done(ok=services().rooms.leave(call.me, call.params["space_id"]))


@router.route("GET", "/v1/spaces/{space_id}/participants", summary="Who is in the room, by role", query=ParticipantsQuery,
              response=ParticipantsOut)
def participants(call: Call) -> ParticipantsOut:
    q: ParticipantsQuery = call.query
    page = services().rooms.participants(call.me, call.params["space_id"], q.role, q.cursor, q.limit)
    by = {role: [participant_out(p) for p in page.participants if p.role == role] for role in (HOST, COHOST, SPEAKER, LISTENER)}
    return ParticipantsOut(hosts=by[HOST], cohosts=by[COHOST], speakers=by[SPEAKER], listeners=by[LISTENER],
                           participant_count=int(page.space.participant_count),
                           listener_count=int(page.space.listener_count), next_cursor=page.next_cursor)


@router.route("POST", "/v1/spaces/{space_id}/speak-requests", summary="Raise your hand", response=ParticipantOut)
def raise_hand(call: Call) -> ParticipantOut:
    return participant_out(services().rooms.raise_hand(call.me, call.params["space_id"]))


@router.route("DELETE", "/v1/spaces/{space_id}/speak-requests", summary="Lower your hand", response=ParticipantOut)
def lower_hand(call: Call) -> ParticipantOut:
    return participant_out(services().rooms.lower_hand(call.me, call.params["space_id"]))


@router.route("GET", "/v1/spaces/{space_id}/speak-requests", summary="Raised hands, oldest first (hosts)", query=PageQuery,
              response=SpeakRequestsOut)
def speak_requests(call: Call) -> SpeakRequestsOut:
    raised, cursor = services().rooms.speak_requests(call.me, call.params["space_id"], call.query.cursor, call.query.limit)
    return SpeakRequestsOut(requests=[participant_out(p) for p in raised], next_cursor=cursor)


@router.route("PUT", "/v1/spaces/{space_id}/participants/{user_id}", summary="Approve, invite, demote, name a co-host",
              body=SetRoleIn, response=ParticipantOut)
def set_role(call: Call) -> ParticipantOut:
    p = services().moderation.set_role(call.me, call.params["space_id"], call.params["user_id"], call.body.role)
    return participant_out(p)


@router.route("POST", "/v1/spaces/{space_id}/participants/{user_id}/mute", summary="Mute a speaker (hosts, or yourself)",
              response=ParticipantOut)
def mute(call: Call) -> ParticipantOut:
    return participant_out(services().moderation.mute(call.me, call.params["space_id"], call.params["user_id"]))


@router.route("DELETE", "/v1/spaces/{space_id}/participants/{user_id}/mute", summary="Unmute yourself",
              response=ParticipantOut)
def unmute(call: Call) -> ParticipantOut:
    if call.params["user_id"] != call.me:
        raise Forbidden("Only speakers unmute themselves.", code="unmute_self_only")
    return participant_out(services().rooms.unmute_self(call.me, call.params["space_id"]))


@router.route("DELETE", "/v1/spaces/{space_id}/participants/{user_id}", summary="Remove someone, optionally ban (?ban=true)",
              query=RemoveQuery, response=Done)
def remove(call: Call) -> Done:
    services().moderation.remove(call.me, call.params["space_id"], call.params["user_id"], call.query.ban)
    return Done(ok=True)


@router.route("GET", "/v1/spaces/{space_id}/audit", summary="Moderation log (host)", query=PageQuery, response=AuditOut)
def audit(call: Call) -> AuditOut:
    entries, cursor = services().moderation.audit_log(call.me, call.params["space_id"], call.query.cursor, call.query.limit)
    return AuditOut(entries=[_audit_out(e) for e in entries], next_cursor=cursor)
