"""Accounts: sign-up, sign-in, look-up."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.clock import Clock
from chalicelib.errors import HandleTaken, InvalidCredentials
from chalicelib.ids import new_id
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import HandleModel, UserModel
from chalicelib.services.tokens import SessionTokens


class AccountService:
    def __init__(self, connection: Connection, clock: Clock, tokens: SessionTokens, hasher: PasswordHasher):
        self._connection = connection
        self._clock = clock
        self._tokens = tokens
        self._hasher = hasher
        # Hash of a password nobody has: sign-in for an unknown handle verifies against
        # it, so a wrong handle costs as long as a wrong password.
        self._decoy_hash = hasher.hash(new_id())

    def sign_up(self, handle: str, display_name: str, password: str) -> tuple[UserModel, str]:
        """Handles are unique case-insensitively: the claim is a conditional write."""
        user = UserModel(
            user_id=new_id(),
            handle=handle,
            display_name=display_name,
            password_hash=self._hasher.hash(password),
            follower_count=0,
            following_count=0,
            created_at=self._clock.now(),
        )
        claim = HandleModel(handle_key=HandleModel.key_for(handle), user_id=user.user_id)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("handle", claim, condition=HandleModel.handle_key.does_not_exist())
                tx.put("user", user, condition=UserModel.user_id.does_not_exist())
        except TransactWriteError as exc:
            if "handle" in tx.failed_conditions(exc):
                raise HandleTaken() from exc
            raise
        return user, self._tokens.issue(user.user_id)

    def sign_in(self, handle: str, password: str) -> tuple[UserModel, str]:
        """Wrong handle and wrong password fail alike, so a failure reveals nothing."""
        user = self._user_by_handle(handle)
        password_hash = user.password_hash if user else self._decoy_hash
        try:
            self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise InvalidCredentials() from exc
        if user is None:
            raise InvalidCredentials()
        return user, self._tokens.issue(user.user_id)

    def get_user(self, user_id: str) -> UserModel:
        return UserModel.lookup(user_id)

    def get_users(self, user_ids: list[str]) -> list[UserModel]:
        """Users in the order asked, skipping ids that no longer exist."""
        found = {u.user_id: u for u in UserModel.batch_get(list(dict.fromkeys(user_ids)))}
        return [found[i] for i in user_ids if i in found]

    def _user_by_handle(self, handle: str) -> UserModel | None:
        try:
            claim = HandleModel.get(HandleModel.key_for(handle))
            return UserModel.get(claim.user_id)
        except DoesNotExist:
            return None


