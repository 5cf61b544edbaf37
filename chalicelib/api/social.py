"""Follows: follow, unfollow, mute a followee's notifications, followers, following; blocks."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import PageQuery, UserOut, UsersPage, user_out
from chalicelib.services.social import Page
from chalicelib.wiring import services

router = Router(__name__, tag="social")


class FollowOut(BaseModel):
    following: bool
    changed: bool
    user: UserOut


class MuteOut(BaseModel):
    muted: bool


class BlockOut(BaseModel):
    blocking: bool
    changed: bool = Field(description="false when it already was so (blocking and unblocking are idempotent)")


@router.route("PUT", "/v1/me/following/{user_id}", summary="Follow a user (idempotent)", response=FollowOut)
def follow(call: Call) -> FollowOut:
    s = services()
    changed = s.social.follow(call.me, call.params["user_id"])
    followee = s.accounts.get_user(call.params["user_id"])
    return FollowOut(following=True, changed=changed, user=user_out(followee, s.settings.host_min_followers))


@router.route("DELETE", "/v1/me/following/{user_id}", summary="Unfollow a user (idempotent)", response=FollowOut)
def unfollow(call: Call) -> FollowOut:
    s = services()
    followee = s.accounts.get_user(call.params["user_id"])
    changed = s.social.unfollow(call.me, followee.user_id)
    followee.refresh()
    return FollowOut(following=False, changed=changed, user=user_out(followee, s.settings.host_min_followers))


@router.route("PUT", "/v1/me/following/{user_id}/mute", summary="Mute notifications from someone you follow",
              response=MuteOut)
def mute_notifications(call: Call) -> MuteOut:
    services().social.mute_notifications(call.me, call.params["user_id"], True)
    return MuteOut(muted=True)


@router.route("DELETE", "/v1/me/following/{user_id}/mute", summary="Unmute notifications from someone", response=MuteOut)
def unmute_notifications(call: Call) -> MuteOut:
    services().social.mute_notifications(call.me, call.params["user_id"], False)
    return MuteOut(muted=False)


@router.route("GET", "/v1/users/{user_id}/followers", summary="Who follows a user", query=PageQuery, response=UsersPage)
def followers(call: Call) -> UsersPage:
    s = services()
    s.accounts.get_user(call.params["user_id"])
    return _users_page(s.social.followers(call.params["user_id"], call.query.cursor, call.query.limit))


@router.route("GET", "/v1/users/{user_id}/following", summary="Whom a user follows", query=PageQuery, response=UsersPage)
def following(call: Call) -> UsersPage:
    s = services()
    s.accounts.get_user(call.params["user_id"])
    return _users_page(s.social.following(call.params["user_id"], call.query.cursor, call.query.limit))


@router.route("PUT", "/v1/me/blocks/{user_id}", summary="Block a user (idempotent): removes follows both ways, "
              "keeps them out of your spaces", response=BlockOut)
def block(call: Call) -> BlockOut:
    return BlockOut(blocking=True, changed=services().blocks.block(call.me, call.params["user_id"]))


@router.route("DELETE", "/v1/me/blocks/{user_id}", summary="Unblock a user (idempotent; no follow comes back)",
              response=BlockOut)
def unblock(call: Call) -> BlockOut:
    return BlockOut(blocking=False, changed=services().blocks.unblock(call.me, call.params["user_id"]))


@router.route("GET", "/v1/me/blocks", summary="Whom you block", query=PageQuery, response=UsersPage)
def blocks(call: Call) -> UsersPage:
    return _users_page(services().social.blocked(call.me, call.query.cursor, call.query.limit))


def _users_page(page: Page) -> UsersPage:
    s = services()
    users = s.accounts.get_users(page.user_ids)
    return UsersPage(users=[user_out(u, s.settings.host_min_followers) for u in users], next_cursor=page.next_cursor)
