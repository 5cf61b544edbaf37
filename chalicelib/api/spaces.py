"""Spaces: create, look up, edit, start, end, cancel, search; the live feed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, WithJsonSchema, model_validator

from chalicelib.api.routing import PATH_ID_MAX_LENGTH, Call, Router
from chalicelib.api.schemas import Id, PageQuery, Strict, Timestamp
from chalicelib.models.spaces import SpaceModel
from chalicelib.services.pins import pin_view
from chalicelib.services.search import SpaceFilter
from chalicelib.services.share_page import share_links
from chalicelib.services.spaces import NewSpace, SpaceEdit, TicketTerms
from chalicelib.text import LanguageTag, SearchText, Title, Topic
from chalicelib.wiring import services

router = Router(__name__, tag="spaces")


Currency = Literal["usd", "eur", "gbp", "cad", "aud"]
SpaceState = Literal["scheduled", "live", "ended", "canceled"]


class TicketIn(Strict):
    price_cents: int = Field(ge=100, le=99_900, description="$1 to $999, in cents")
    currency: Currency = "usd"
    max_tickets: int = Field(ge=1, le=100_000)


class CreateSpaceIn(Strict):
    title: Title
    scheduled_start: AwareDatetime | None = None
    topics: list[Topic] = Field(default_factory=list, max_length=3)
    invited_user_ids: list[Id] = Field(default_factory=list, max_length=10)
    lang: LanguageTag = Field(default="en", description="a BCP 47 language tag, stored in its standard form")
    ticket: TicketIn | None = None
    recording: bool = Field(default=True, description="record it: a replay for 30 days after the end")
    clipping: bool = Field(default=True, description="participants may clip its last 30 s")


class EditSpaceIn(Strict):
    title: Title | None = None
    scheduled_start: AwareDatetime | None = None
    topics: list[Topic] | None = Field(default=None, max_length=3)
    recording: bool | None = Field(default=None, description="while scheduled only")
    clipping: bool | None = None


MAX_IDS = 100  # as the X API (and one DynamoDB BatchGetItem)
MAX_CREATOR_IDS = 25  # one index query each per page


def _id_list(most: int) -> Any:
    """A comma-separated list of ids (``?ids=a,b,c``): 1 to ``most`` distinct ids, each a bounded id."""

    def split(value: Any) -> list[str]:
        if not isinstance(value, str):
            raise ValueError("a comma-separated list of ids")
        ids = list(dict.fromkeys(part.strip() for part in value.split(",")))
        if not all(0 < len(i) <= PATH_ID_MAX_LENGTH for i in ids):
            raise ValueError(f"ids are comma-separated, each 1 to {PATH_ID_MAX_LENGTH} characters")
        if len(ids) > most:
            raise ValueError(f"at most {most} ids")
        return ids

    # Declared as the string it is on the wire; parsed into the list it means.
    return Annotated[list[str], BeforeValidator(split),
                     WithJsonSchema({"type": "string", "description": f"comma-separated ids, up to {most}"})]


class SearchQuery(PageQuery):
    """``ids`` is a lookup and stands alone; the other parameters combine (all must match)."""

    ids: _id_list(MAX_IDS) | None = None  # type: ignore[valid-type]
    creator_ids: _id_list(MAX_CREATOR_IDS) | None = None  # type: ignore[valid-type]
    creator_id: Id | None = Field(default=None, description="one creator (creator_ids takes several)")
    state: SpaceState | None = None
    topic: Topic | None = None
    lang: LanguageTag | None = None
    q: SearchText | None = Field(default=None, min_length=1, max_length=70, description="a piece of the title")
    limit: int = Field(default=20, ge=1, le=100)

    @model_validator(mode="after")
    def _ids_stand_alone(self) -> SearchQuery:
        others = sorted(self.model_fields_set - {"ids"})
        if self.ids is not None and others:
            raise ValueError(f"ids is a lookup of up to {MAX_IDS} spaces and takes no other parameter (got {others[0]})")
        return self


class TicketTermsOut(BaseModel):
    """A ticketed space's terms and how many are sold."""

    price_cents: int
    currency: Currency
    max_tickets: int
    tickets_sold: int
    sold_out: bool


class PinnedMessageOut(BaseModel):
    id: str
    sender_id: str
    text: str
    created_at: Timestamp | None


class PinnedOut(BaseModel):
    """What the host or a co-host pinned: a room message (``message``) or a link (``url``)."""

    kind: Literal["message", "url"]
    message: PinnedMessageOut | None
    url: str | None
    pinned_by: str
    pinned_at: Timestamp


class SpaceOut(BaseModel):
    """The X API v2 space object fields, plus Parlor's own."""

    id: str
    state: SpaceState
    title: str
    creator_id: str
    host_ids: list[str]
    acting_host_id: str | None
    speaker_ids: list[str]
    invited_user_ids: list[str]
    participant_count: int
    listener_count: int
    webrtc_listener_count: int = Field(description="listeners on WebRTC (up to the room's cap)")
    hls_listener_count: int = Field(description="listeners through HLS (beyond the cap, or by choice)")
    subscriber_count: int
    scheduled_start: Timestamp | None
    started_at: Timestamp | None
    ended_at: Timestamp | None
    created_at: Timestamp
    is_ticketed: bool
    ticket: TicketTermsOut | None
    topic_ids: list[str]
    lang: str
    recording: bool = Field(description="it records (clients show an indicator); the replay follows the end")
    clipping: bool
    has_replay: bool = Field(description="ended, recorded, and its replay is still kept (GET .../replay)")
    pinned: PinnedOut | None = Field(default=None, description="the pinned room message or link (PUT .../pin)")
    share_url: str = Field(description="its public page (no sign-in; link previews), to share")


class SpacesPage(BaseModel):
    spaces: list[SpaceOut]
    next_cursor: str | None


def space_out(space: SpaceModel) -> SpaceOut:
    settings = services().settings
    ticket = None
    if space.is_ticketed:
        sold = int(space.tickets_sold or 0)
        ticket = TicketTermsOut(price_cents=int(space.ticket_price_cents or 0), currency=space.ticket_currency or "usd",  # type: ignore[arg-type]
                           max_tickets=int(space.max_tickets or 0), tickets_sold=sold,
                           sold_out=sold + int(space.tickets_held or 0) >= int(space.max_tickets or 0))
    return SpaceOut(
        id=space.space_id, state=space.state, title=space.title, creator_id=space.creator_id, host_ids=space.host_ids,  # type: ignore[arg-type]
        acting_host_id=space.acting_host_id, speaker_ids=sorted(space.speaker_ids or ()),
        invited_user_ids=list(space.invited_user_ids or []), participant_count=int(space.participant_count),
        listener_count=int(space.listener_count), webrtc_listener_count=int(space.webrtc_listener_count or 0),
        hls_listener_count=int(space.hls_listener_count or 0), subscriber_count=int(space.subscriber_count),
        scheduled_start=space.scheduled_start, started_at=space.started_at, ended_at=space.ended_at,
        created_at=space.created_at, is_ticketed=bool(space.is_ticketed), ticket=ticket,
        topic_ids=list(space.topic_ids or []), lang=space.lang, recording=bool(space.recording),
        clipping=bool(space.clipping), has_replay=services().audience.replay_until(space) is not None,
        pinned=PinnedOut.model_validate(pinned) if (pinned := pin_view(space.pinned)) else None,
        share_url=share_links(space.space_id, settings.web_url, settings.api_url).page,
    )


@router.route("POST", "/v1/spaces", summary="Host a space now, or schedule one", body=CreateSpaceIn, response=SpaceOut,
              status=201, idempotent=True, retry_later=True)
def create_space(call: Call) -> SpaceOut:
    b: CreateSpaceIn = call.body
    ticket = TicketTerms(b.ticket.price_cents, b.ticket.currency, b.ticket.max_tickets) if b.ticket else None
    new = NewSpace(b.title, b.scheduled_start, tuple(b.topics), tuple(b.invited_user_ids), b.lang, ticket,
                   b.recording, b.clipping)
    return space_out(services().spaces.create(call.me, new))


@router.route("GET", "/v1/spaces", summary="Search and list spaces", query=SearchQuery, response=SpacesPage)
def search_spaces(call: Call) -> SpacesPage:
    q: SearchQuery = call.query
    if q.ids is not None:
        return SpacesPage(spaces=[space_out(s) for s in services().search.by_ids(q.ids, call.me)], next_cursor=None)
    creators = tuple(dict.fromkeys([*(q.creator_ids or ()), *([q.creator_id] if q.creator_id else [])]))
    where = SpaceFilter(q.state, creators, q.topic, q.lang, q.q)
    page = services().search.spaces(where, q.cursor, q.limit, call.me)
    return SpacesPage(spaces=[space_out(s) for s in page.spaces], next_cursor=page.next_cursor)


@router.route("GET", "/v1/spaces/{space_id}", summary="Look up a space", response=SpaceOut)
def get_space(call: Call) -> SpaceOut:
    return space_out(services().search.lookup(call.me, call.params["space_id"]))


@router.route("PATCH", "/v1/spaces/{space_id}", summary="Edit a space (host)", body=EditSpaceIn, response=SpaceOut)
def edit_space(call: Call) -> SpaceOut:
    b: EditSpaceIn = call.body
    edit = SpaceEdit(b.title, b.scheduled_start, tuple(b.topics) if b.topics is not None else None, b.recording,
                     b.clipping)
    return space_out(services().spaces.edit(call.me, call.params["space_id"], edit))


@router.route("POST", "/v1/spaces/{space_id}/start", summary="Start a scheduled space (host)", response=SpaceOut,
              retry_later=True)
def start_space(call: Call) -> SpaceOut:
    return space_out(services().spaces.start(call.me, call.params["space_id"]))


@router.route("POST", "/v1/spaces/{space_id}/end", summary="End a live space (host)", response=SpaceOut)
def end_space(call: Call) -> SpaceOut:
    return space_out(services().spaces.end(call.me, call.params["space_id"]))


@router.route("POST", "/v1/spaces/{space_id}/cancel", summary="Cancel a scheduled space (host)", response=SpaceOut)
def cancel_space(call: Call) -> SpaceOut:
    return space_out(services().spaces.cancel(call.me, call.params["space_id"]))


@router.route("GET", "/v1/feed/live", summary="Purple circles: live spaces with people I follow on stage",
              query=PageQuery, response=SpacesPage)
def live_feed(call: Call) -> SpacesPage:
    spaces, cursor = services().feed.live_spaces(call.me, call.query.cursor, call.query.limit)
    return SpacesPage(spaces=[space_out(s) for s in spaces], next_cursor=cursor)
