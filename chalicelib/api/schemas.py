"""Request and response bodies shared across blueprints."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.routing import PATH_ID_MAX_LENGTH
from chalicelib.models.users import UserModel

# An id in a body is bounded as a path id is (DynamoDB refuses an empty key: a 500), but a
# malformed body is a 400.
Id = Annotated[str, Field(min_length=1, max_length=PATH_ID_MAX_LENGTH)]


class Strict(BaseModel):
    """Request bodies: unknown fields and wrong types are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

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
