"""The social graph: follow, unfollow, list followers and following."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.clock import Clock
from chalicelib.errors import CannotFollowSelf, UserNotFound
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
        """Unfollow; a no-op (False) if there was no edge."""
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

    def is_following(self, follower_id: str, followee_id: str) -> bool:
        return FollowModel.count(follower_id, FollowModel.followee_id == followee_id) > 0

    def following(self, user_id: str, cursor: str | None, limit: int) -> Page:
        result = FollowModel.query(user_id, limit=limit, last_evaluated_key=decode_cursor(cursor))
        ids = [edge.followee_id for edge in result]
        return Page(ids, encode_cursor(result.last_evaluated_key))

    def followers(self, user_id: str, cursor: str | None, limit: int) -> Page:
        result = FollowModel.followers.query(user_id, limit=limit, last_evaluated_key=decode_cursor(cursor))
        ids = [edge.follower_id for edge in result]
        return Page(ids, encode_cursor(result.last_evaluated_key))

