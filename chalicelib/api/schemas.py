"""Request and response bodies shared across blueprints."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from chalicelib.api.routing import PATH_ID_MAX_LENGTH
from chalicelib.clock import timestamp
from chalicelib.models.users import UserModel

# An id in a body is bounded as a path id is (DynamoDB refuses an empty key: a 500), but a
# malformed body is a 400.
Id = Annotated[str, Field(min_length=1, max_length=PATH_ID_MAX_LENGTH)]

# A time in an answer: RFC 3339 UTC with a Z, to the millisecond, as every time clients see is
# spelled (``clock.timestamp``, also the realtime events' ``at``). The spec says so exactly.
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN,
                    "examples": ["2026-11-30T12:00:00.123Z"]}),
]


class Strict(BaseModel):
    """Request bodies: unknown fields and wrong types are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query strings: an unknown parameter is an error (400 naming it), as an unknown body
    field is; a typo such as ``?limt=5`` must not silently return the default. Every route's
    query model derives from this one (tests/api/test_queries.py checks it)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    """Every list pages the same way: ``?cursor=`` (the ``next_cursor`` of the page before) and ``?limit=``."""

    cursor: str | None = Field(default=None, max_length=2048)
    limit: int = Field(default=50, ge=1, le=100)


class UserOut(BaseModel):
    id: str
    handle: str
    display_name: str
    follower_count: int
    following_count: int
    can_host: bool
    bio: str | None = None


class UsersPage(BaseModel):
    users: list[UserOut]
    next_cursor: str | None


def user_out(user: UserModel, host_min_followers: int) -> UserOut:
    return UserOut(
        id=user.user_id,
        handle=user.handle,
        display_name=user.display_name,
        follower_count=int(user.follower_count),
        following_count=int(user.following_count),
        can_host=int(user.follower_count) >= host_min_followers,
        bio=user.bio,
    )
