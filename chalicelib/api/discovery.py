"""Discovery and sharing: the curated topics, trending spaces, and the pin of a space."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Id, PageQuery, Strict
from chalicelib.api.spaces import SpaceOut, SpacesPage, space_out
from chalicelib.services.pins import PinRequest
from chalicelib.text import LanguageTag, Topic
from chalicelib.topics import TOPICS
from chalicelib.wiring import services

router = Router(__name__, tag="spaces")

PIN_URL_MAX_LENGTH = 2048


class TopicOut(BaseModel):
    id: str = Field(description="what spaces carry in topic_ids and what filters take")
    label: str = Field(description="what to show")


class TopicsOut(BaseModel):
    topics: list[TopicOut]


class TrendingQuery(PageQuery):
    topic: Topic | None = None
    lang: LanguageTag | None = None
    limit: int = Field(default=20, ge=1, le=100)


class PinIn(Strict):
    """Exactly one: a message of this space's room chat, or an http(s) link."""

    message_id: Id | None = None
    url: str | None = Field(default=None, min_length=1, max_length=PIN_URL_MAX_LENGTH, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://",
                            description=f"an http or https URL, up to {PIN_URL_MAX_LENGTH} characters")

    @field_validator("url")
    @classmethod
    def _http_link(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("an http or https URL with a host")
        if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
            raise ValueError("a URL has no spaces or control characters")
        return url

    @model_validator(mode="after")
    def _exactly_one(self) -> PinIn:
        if (self.message_id is None) == (self.url is None):
            raise ValueError("give exactly one of message_id and url")
        return self


@router.route("GET", "/v1/topics", summary="The topics a space may carry (up to 3)", response=TopicsOut, auth=False)
def list_topics(call: Call) -> TopicsOut:
    return TopicsOut(topics=[TopicOut(id=topic_id, label=label) for topic_id, label in TOPICS])


@router.route("GET", "/v1/spaces/trending", summary="Live spaces ranked by listeners and their growth",
              query=TrendingQuery, response=SpacesPage)
def trending_spaces(call: Call) -> SpacesPage:
    q: TrendingQuery = call.query
    spaces, cursor = services().trending.spaces(call.me, q.topic, q.lang, q.cursor, q.limit)
    return SpacesPage(spaces=[space_out(s) for s in spaces], next_cursor=cursor)


@router.route("PUT", "/v1/spaces/{space_id}/pin", summary="Pin a room message or a link (host, co-host)", body=PinIn,
              response=SpaceOut)
def pin(call: Call) -> SpaceOut:
    b: PinIn = call.body
    return space_out(services().pins.pin(call.me, call.params["space_id"], PinRequest(b.message_id, b.url)))


@router.route("DELETE", "/v1/spaces/{space_id}/pin", summary="Take the pin down (host, co-host)", response=SpaceOut)
def unpin(call: Call) -> SpaceOut:
    return space_out(services().pins.unpin(call.me, call.params["space_id"]))
