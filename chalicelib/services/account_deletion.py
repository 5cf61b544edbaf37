"""Deleting an account, as the app stores require (Apple 5.1.1(v), Google Play's account
deletion policy): the person's data goes, and what they left in other people's lives is
closed properly.

- Their live space ends and their scheduled spaces are cancelled, which refunds every buyer
  (the spaces service's own end and cancel).
- Follows go both ways, each through the social graph, so every other user's counts stay exact.
  Blocks go both ways too (theirs, and others' of them).
- Their push endpoints are deleted from SNS (unless the device moved to someone else), and
  their inbox is emptied.
- Every session is revoked; the user item, the handle claim (the handle is free again) and the
  email claim are deleted in one transaction.

Kept, with nothing that names them: chat messages and tickets carry only the opaque user id,
which after deletion leads to no user (``GET /v1/users/{id}`` is 404), so they read as from a
deleted account. Tickets and payout accounts stay because payments and refunds are records
other people (buyers, hosts, Stripe) rely on.

Every step may run again: a deletion interrupted half-way is finished by asking again (the
sessions and the user item go last, so the person can still sign in and retry).
"""

from __future__ import annotations

from pynamodb.connection import Connection

from chalicelib.models.follows import FollowModel
from chalicelib.models.notifications import NotificationModel
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import EmailModel, HandleModel, UserModel
from chalicelib.services.accounts import AccountService
from chalicelib.services.notifications.inbox import Devices
from chalicelib.services.social import SocialGraph
from chalicelib.services.spaces import SpaceService


class AccountDeletion:
    def __init__(self, connection: Connection, accounts: AccountService, spaces: SpaceService, social: SocialGraph,
                 devices: Devices):
        self._connection = connection
        self._accounts = accounts
        self._spaces = spaces
        self._social = social
        self._devices = devices

    def delete(self, user: UserModel, password: str, source: str | None = None) -> None:
        """Delete ``user``'s account after checking their password (401 ``invalid_credentials``)."""
        self._accounts.check_password(user, password, source)
        user_id = user.user_id
        self._spaces.close_hosted(user)
        for edge in FollowModel.query(user_id, attributes_to_get=["follower_id", "followee_id"]):
            self._social.unfollow(user_id, edge.followee_id)
        for edge in FollowModel.followers.query(user_id):
            self._social.unfollow(edge.follower_id, user_id)
        self._social.forget_blocks(user_id)
        self._devices.unregister_all(user_id)
        with NotificationModel.batch_write() as batch:
            for item in NotificationModel.query(user_id, attributes_to_get=["user_id", "key"]):
                batch.delete(item)
        self._accounts.sessions.end_all(user_id)
        tx = Transaction(self._connection)
        with tx:
            tx.remove("user", UserModel(user_id=user_id))
            tx.remove("handle", HandleModel(handle_key=HandleModel.key_for(user.handle)),
                      condition=HandleModel.user_id == user_id)
            if user.email:
                tx.remove("email", EmailModel(email_key=EmailModel.key_for(user.email)),
                          condition=EmailModel.user_id == user_id)
