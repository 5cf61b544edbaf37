"""The social graph: follow, unfollow, mute a followee's notifications, list followers and
following; block and unblock. The only module that reads or writes follow edges
(``FollowModel``) and blocks (``BlockModel``).

A block and a follow between the same two people never coexist: following checks, in its
transaction, that neither blocks the other; blocking removes both follows in its transaction
(with the counters), conditioned on the follows it did not see still being absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, TransactWriteError, UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import Blocked, CannotBlockSelf, CannotFollowSelf, Conflict, NotFollowing, UserNotFound
from chalicelib.models.blocks import BlockModel
from chalicelib.models.follows import FollowModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import UserModel

# A block retries when a follow between the two appeared or vanished meanwhile.
_BLOCK_ATTEMPTS = 3


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
        unblocked = BlockModel.blocker_id.does_not_exist()
        edge = FollowModel(follower_id=follower_id, followee_id=followee_id, created_at=self._clock.now())
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.check("blocked", BlockModel, followee_id, follower_id, unblocked)
                tx.check("blocking", BlockModel, follower_id, followee_id, unblocked)
                tx.put("edge", edge, condition=FollowModel.follower_id.does_not_exist())
                tx.change("followee", UserModel(user_id=followee_id), [UserModel.follower_count.add(1)],
                          condition=UserModel.user_id.exists())
                tx.change("follower", UserModel(user_id=follower_id), [UserModel.following_count.add(1)],
                          condition=UserModel.user_id.exists())
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if {"followee", "follower"} & failed:
                raise UserNotFound() from exc
            if "blocked" in failed:
                raise Blocked("That user blocks you.") from exc
            if "blocking" in failed:
                raise Blocked("You block that user; unblock them first.") from exc
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

    # -- blocks ------------------------------------------------------------------------

    def block(self, blocker_id: str, blocked_id: str) -> bool:
        """Block someone (a real user, not yourself): the block and the removal of any follow
        between the two, both ways, with the four counters, in one transaction. Returns False
        when the block already existed (blocking again changes nothing)."""
        if blocker_id == blocked_id:
            raise CannotBlockSelf()
        for _ in range(_BLOCK_ATTEMPTS):
            done = self._try_block(blocker_id, blocked_id)
            if done is not None:
                return done
        raise Conflict("Their follows changed meanwhile; try again.", code="follows_changed")

    def _try_block(self, blocker_id: str, blocked_id: str) -> bool | None:
        """One attempt; None when a follow between the two changed since it was read."""
        pairs = ((blocker_id, blocked_id), (blocked_id, blocker_id))
        following = {pair for pair in pairs if _follows(*pair)}
        # One update per user item (a transaction may not change an item twice).
        actions: dict[str, list[Any]] = {blocker_id: [], blocked_id: []}
        for follower, followee in following:
            actions[follower].append(UserModel.following_count.add(-1))
            actions[followee].append(UserModel.follower_count.add(-1))
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("block", BlockModel(blocker_id=blocker_id, blocked_id=blocked_id, created_at=self._clock.now()),
                       condition=BlockModel.blocker_id.does_not_exist())
                for follower, followee in pairs:
                    if (follower, followee) in following:
                        tx.remove("follows", FollowModel(follower_id=follower, followee_id=followee),
                                  condition=FollowModel.follower_id.exists())
                    else:
                        tx.check("follows", FollowModel, follower, followee, FollowModel.follower_id.does_not_exist())
                if actions[blocked_id]:
                    tx.change("user", UserModel(user_id=blocked_id), actions[blocked_id], condition=UserModel.user_id.exists())
                else:
                    tx.check("user", UserModel, blocked_id, None, UserModel.user_id.exists())
                if actions[blocker_id]:
                    tx.change("me", UserModel(user_id=blocker_id), actions[blocker_id])
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "user" in failed:
                raise UserNotFound() from exc
            if "block" in failed:
                return False
            if "follows" in failed:
                return None
            raise
        return True

    def unblock(self, blocker_id: str, blocked_id: str) -> bool:
        """Unblock; a no-op (False) if there was no block. Nothing else comes back (no follow)."""
        try:
            BlockModel(blocker_id=blocker_id, blocked_id=blocked_id).delete(condition=BlockModel.blocker_id.exists())
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def blocked(self, user_id: str, cursor: str | None, limit: int) -> Page:
        """Whom a user blocks, a page at a time."""
        result = BlockModel.query(user_id, limit=limit, last_evaluated_key=decode_cursor(cursor, BlockModel))
        ids = [block.blocked_id for block in result]
        return Page(ids, encode_cursor(result.last_evaluated_key))

    @staticmethod
    def blocks(blocker_id: str, blocked_id: str) -> bool:
        """Does ``blocker_id`` block ``blocked_id`` (one strongly consistent GetItem)."""
        return BlockModel.exists_between(blocker_id, blocked_id)

    def either_blocks(self, one_id: str, other_id: str) -> bool:
        return self.blocks(one_id, other_id) or self.blocks(other_id, one_id)

    @staticmethod
    def forget_blocks(user_id: str) -> None:
        """Delete every block by or of ``user_id`` (their account is being deleted)."""
        with BlockModel.batch_write() as batch:
            for block in BlockModel.query(user_id, attributes_to_get=["blocker_id", "blocked_id"]):
                batch.delete(block)
            for block in BlockModel.blockers.query(user_id):
                batch.delete(block)

    @staticmethod
    def blocker_ids(user_id: str) -> set[str]:
        """Everyone who blocks ``user_id`` (the index, eventually consistent): whose spaces they
        must not see in listings."""
        return {block.blocker_id for block in BlockModel.blockers.query(user_id, attributes_to_get=["blocker_id"])}


def _follows(follower_id: str, followee_id: str) -> bool:
    try:
        FollowModel.get(follower_id, followee_id, consistent_read=True, attributes_to_get=["follower_id"])
    except FollowModel.DoesNotExist:
        return False
    return True
