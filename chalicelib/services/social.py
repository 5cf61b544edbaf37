"""The social graph: follow, unfollow, mute a followee's notifications, list followers and
following. The only module that reads or writes follow edges (``FollowModel``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import CannotFollowSelf, NotFollowing, UserNotFound
from chalicelib.models.follows import FollowModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import UserModel


@dataclass(frozen=True)
class Page:
    user_ids: list[str]
    next_cursor: str | None


class SocialGraph:
    def __init__(self, connection: Connection, clock: Clock):
        self._connection = connection
        self._clock = clock

    def follow(self, follower_id: str, followee_id: str) -> bool:
        """Follow once: the edge and both counters change in one transaction, or not at all.

        Returns False when the edge already existed (following again changes nothing).
        """
        if follower_id == followee_id:
            raise CannotFollowSelf()
        edge = FollowModel(follower_id=follower_id, followee_id=followee_id, created_at=self._clock.now())
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("edge", edge, condition=FollowModel.follower_id.does_not_exist())
                tx.change("followee", UserModel(user_id=followee_id), [UserModel.follower_count.add(1)],
                          condition=UserModel.user_id.exists())
                tx.change("follower", UserModel(user_id=follower_id), [UserModel.following_count.add(1)],
                          condition=UserModel.user_id.exists())
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if {"followee", "follower"} & failed:
                raise UserNotFound() from exc
            if "edge" in failed:
                return False
            raise
        return True

    def unfollow(self, follower_id: str, followee_id: str) -> bool:
        """Unfollow; a no-op (False) if there was no edge. Unfollowing yourself is refused as
        following yourself is (one transaction may not change one user twice)."""
        if follower_id == followee_id:
            raise CannotFollowSelf("You cannot unfollow yourself.")
        edge = FollowModel(follower_id=follower_id, followee_id=followee_id)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.remove("edge", edge, condition=FollowModel.follower_id.exists())
                tx.change("followee", UserModel(user_id=followee_id), [UserModel.follower_count.add(-1)])
                tx.change("follower", UserModel(user_id=follower_id), [UserModel.following_count.add(-1)])
        except TransactWriteError as exc:
            if "edge" in tx.failed_conditions(exc):
                return False
            raise
        return True

    def mute_notifications(self, follower_id: str, followee_id: str, muted: bool) -> None:
        """Stop (or resume) notifications from someone you follow; only an existing follow
        can be muted (``NotFollowing`` otherwise)."""
        try:
            FollowModel(follower_id=follower_id, followee_id=followee_id).update(
                actions=[FollowModel.notifications_muted.set(muted)], condition=FollowModel.follower_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFollowing() from exc
            raise

    def following(self, user_id: str, cursor: str | None, limit: int) -> Page:
        result = FollowModel.query(user_id, limit=limit, last_evaluated_key=decode_cursor(cursor, FollowModel))
        ids = [edge.followee_id for edge in result]
        return Page(ids, encode_cursor(result.last_evaluated_key))

    def followee_ids(self, user_id: str, at_most: int) -> Iterator[str]:
        """Whom a user follows, read lazily: at most ``at_most`` edges, only their followee ids."""
        return (edge.followee_id for edge in FollowModel.query(user_id, attributes_to_get=["followee_id"], limit=at_most))

    def followers(self, user_id: str, cursor: str | None, limit: int) -> Page:
        return self._followers(user_id, cursor, limit, muted_too=True)

    def followers_to_notify(self, user_id: str, cursor: str | None, limit: int) -> Page:
        """A page of a user's followers minus those who muted their notifications. The page
        reads ``limit`` edges, so it may hold fewer ids (even none); only a missing ``next_cursor``
        says it is the last."""
        return self._followers(user_id, cursor, limit, muted_too=False)

    def _followers(self, user_id: str, cursor: str | None, limit: int, muted_too: bool) -> Page:
        result = FollowModel.followers.query(user_id, limit=limit, last_evaluated_key=decode_cursor(cursor, FollowModel.followers))
        ids = [edge.follower_id for edge in result if muted_too or not edge.notifications_muted]
        return Page(ids, encode_cursor(result.last_evaluated_key))
