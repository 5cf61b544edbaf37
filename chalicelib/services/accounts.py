"""Accounts: sign-up, sign-in, look-up, profile and password, and who a session token speaks for."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.clock import Clock
from chalicelib.errors import EmailTaken, HandleTaken, InvalidCredentials, Suspended, Unauthorized
from chalicelib.ids import new_id
from chalicelib.models.transactions import Transaction
from chalicelib.models.users import EmailModel, HandleModel, UserModel
from chalicelib.services.passwords import check_password
from chalicelib.services.sessions import Grant, Sessions
from chalicelib.services.throttle import Limit, Throttle
from chalicelib.services.tokens import SessionTokens
from chalicelib.settings import Settings


@dataclass(frozen=True)
class AccountLimits:
    """How many failed sign-ins per handle and per source address, and sign-ups per address,
    each window allows (settings ``sign_in_*`` and ``sign_up_*``)."""

    sign_in_per_handle: Limit
    sign_in_per_address: Limit
    sign_up_per_address: Limit

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountLimits:
        return cls(Limit("sign_in_handle", settings.sign_in_failures_per_handle, settings.sign_in_window_seconds),
                   Limit("sign_in_address", settings.sign_in_failures_per_address, settings.sign_in_window_seconds),
                   Limit("sign_up_address", settings.sign_ups_per_address, settings.sign_up_window_seconds))


class AccountService:
    def __init__(self, connection: Connection, clock: Clock, tokens: SessionTokens, hasher: PasswordHasher,
                 throttle: Throttle, limits: AccountLimits, sessions: Sessions):
        self._connection = connection
        self._clock = clock
        self._tokens = tokens
        self.sessions = sessions
        self._hasher = hasher
        self._throttle = throttle
        self._limits = limits
        # Hash of a password nobody has: sign-in for an unknown handle verifies against
        # it, so a wrong handle costs as long as a wrong password.
        self._decoy_hash = hasher.hash(new_id())

    def sign_up(self, handle: str, display_name: str, password: str, source: str | None = None,
                email: str | None = None) -> tuple[UserModel, Grant]:
        """Handles (and emails, if given) are unique case-insensitively: each claim is a conditional write. The password
        must pass the policy (``passwords.py``). Each source address may try a few sign-ups per
        window (``source`` is None only for callers inside the system: scripts, tests)."""
        check_password(password, handle)
        if source is not None:
            self._throttle.take((self._limits.sign_up_per_address, source),
                                message="Too many sign-ups from this address; try again later.")
        user = UserModel(
            user_id=new_id(),
            handle=handle,
            display_name=display_name,
            password_hash=self._hasher.hash(password),
            follower_count=0,
            following_count=0,
            created_at=self._clock.now(),
            email=email,
        )
        claim = HandleModel(handle_key=HandleModel.key_for(handle), user_id=user.user_id)
        tx = Transaction(self._connection)
        try:
            with tx:
                tx.put("handle", claim, condition=HandleModel.handle_key.does_not_exist())
                if email:
                    tx.put("email", EmailModel(email_key=EmailModel.key_for(email), user_id=user.user_id),
                           condition=EmailModel.email_key.does_not_exist())
                tx.put("user", user, condition=UserModel.user_id.does_not_exist())
        except TransactWriteError as exc:
            failed = tx.failed_conditions(exc)
            if "handle" in failed:
                raise HandleTaken() from exc
            if "email" in failed:
                raise EmailTaken() from exc
            raise
        return user, self.sessions.start(user.user_id)

    def sign_in(self, handle: str, password: str, source: str | None = None) -> tuple[UserModel, Grant]:
        """Wrong handle and wrong password fail alike, so a failure reveals nothing.

        Guessing is throttled per handle and per source address: each attempt is counted
        before the password is checked and given back only if it was right, so once a
        window's failures are spent even the right password is answered 429 until the
        window ends — a guesser learns nothing more, however fast they ask."""
        wanted = [(self._limits.sign_in_per_handle, HandleModel.key_for(handle))]
        if source is not None:
            wanted.append((self._limits.sign_in_per_address, source))
        attempt = self._throttle.take(*wanted, message="Too many failed sign-ins; try again later.")
        user = self.user_by_handle(handle)
        password_hash = user.password_hash if user else self._decoy_hash
        try:
            self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise InvalidCredentials() from exc
        if user is None:
            raise InvalidCredentials()
        self._throttle.give_back(attempt)
        _refuse_suspended(user)  # only to someone who knows the password: a guesser learns nothing
        return user, self.sessions.start(user.user_id)

    def authenticate(self, token: str) -> UserModel:
        """The user an access token speaks for: the token must be valid, its user must still
        exist (a deleted account's tokens open nothing), otherwise 401 ``invalid_token``; and
        its session must not be signed out (401 ``session_revoked``); a suspended account's is
        refused (403 ``suspended``), should one outlive the revocation. Two GetItems."""
        user_id = self._tokens.verify(token)
        self.sessions.check(self._tokens.session_id(token), user_id)
        try:
            user = UserModel.get(user_id)
        except UserModel.DoesNotExist as exc:
            raise Unauthorized("The account of this token no longer exists.", code="invalid_token") from exc
        _refuse_suspended(user)
        return user

    def refresh(self, refresh_token: str) -> tuple[UserModel, Grant]:
        """A new access token and refresh token for a refresh token (rules: ``sessions.py``)."""
        user_id, grant = self.sessions.refresh(refresh_token)
        try:
            user = UserModel.get(user_id)
        except UserModel.DoesNotExist as exc:
            raise Unauthorized("The account of this token no longer exists.", code="invalid_token") from exc
        if user.suspended_at is not None:
            self.sessions.end(grant.session_id)
        _refuse_suspended(user)
        return user, grant

    def check_password(self, user: UserModel, password: str, source: str | None = None) -> None:
        """Confirm a signed-in user's password before a sensitive change (401 ``invalid_credentials``).
        Wrong guesses count against the same per-handle limit as sign-ins, so a stolen access
        token cannot be used to guess the password faster than sign-in allows."""
        wanted = [(self._limits.sign_in_per_handle, HandleModel.key_for(user.handle))]
        if source is not None:
            wanted.append((self._limits.sign_in_per_address, source))
        attempt = self._throttle.take(*wanted, message="Too many wrong passwords; try again later.")
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise InvalidCredentials("The current password is wrong.") from exc
        self._throttle.give_back(attempt)

    def change_password(self, user: UserModel, session_id: str | None, current: str, new: str,
                        source: str | None = None) -> None:
        """Set a new password (policy: ``passwords.py``) after checking the current one; every other
        session of the user is signed out, the one that asked stays signed in."""
        self.check_password(user, current, source)
        self.set_password(user, new, keep_session=session_id)

    def set_password(self, user: UserModel, new: str, keep_session: str | None = None) -> None:
        """Store a new password (checked against the policy) and sign out every session but ``keep_session``."""
        check_password(new, user.handle)
        user.update(actions=[UserModel.password_hash.set(self._hasher.hash(new))])
        self.sessions.end_all(user.user_id, keep=keep_session)

    def update_profile(self, user: UserModel, display_name: str | None = None, bio: str | None = None,
                       email: str | None = None, clear_email: bool = False) -> UserModel:
        """Change display name, bio (empty clears it) and email. A new email is claimed with a
        condition (409 ``email_taken``) and the old claim released in the same transaction."""
        actions = []
        if display_name is not None:
            actions.append(UserModel.display_name.set(display_name))
        if bio is not None:
            actions.append(UserModel.bio.set(bio) if bio else UserModel.bio.remove())
        new_email = None if clear_email else email
        email_changes = (clear_email and user.email) or (
            email is not None and EmailModel.key_for(email) != EmailModel.key_for(user.email or ""))
        if email_changes:
            actions.append(UserModel.email.set(new_email) if new_email else UserModel.email.remove())
        elif email is not None:
            actions.append(UserModel.email.set(email))  # same address, other capitals
        if not actions:
            return user
        tx = Transaction(self._connection)
        try:
            with tx:
                if email_changes and new_email:
                    tx.put("email", EmailModel(email_key=EmailModel.key_for(new_email), user_id=user.user_id),
                           condition=EmailModel.email_key.does_not_exist())
                if email_changes and user.email:
                    tx.remove("old_email", EmailModel(email_key=EmailModel.key_for(user.email)))
                tx.change("user", user, actions, condition=UserModel.user_id.exists())
        except TransactWriteError as exc:
            if "email" in tx.failed_conditions(exc):
                raise EmailTaken() from exc
            raise
        user.refresh()
        return user

    def user_by_email(self, email: str) -> UserModel | None:
        return _claimant(EmailModel, email)

    def user_by_handle(self, handle: str) -> UserModel | None:
        return _claimant(HandleModel, handle)

    def get_user(self, user_id: str) -> UserModel:
        return UserModel.lookup(user_id)

    def get_users(self, user_ids: list[str]) -> list[UserModel]:
        """Users in the order asked, skipping ids that no longer exist."""
        found = {u.user_id: u for u in UserModel.batch_get(list(dict.fromkeys(user_ids)))}
        return [found[i] for i in user_ids if i in found]



def _claimant(claims: type[EmailModel] | type[HandleModel], value: str) -> UserModel | None:
    """Who holds the claim on a handle or an email address, if anyone (and they still exist)."""
    try:
        return UserModel.get(claims.get(claims.key_for(value)).user_id)
    except DoesNotExist:
        return None


def _refuse_suspended(user: UserModel) -> None:
    if user.suspended_at is not None:
        raise Suspended("This account is suspended by Parlor's trust and safety team.")
