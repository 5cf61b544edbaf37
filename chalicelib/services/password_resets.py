"""Password reset by email: a one-time, expiring link.

The token is 256 random bits, sent only in the email; DynamoDB keeps its SHA-256, so a read
of the table gives nobody a working link. Using it deletes it with a condition, so of two
uses exactly one sets a password. Asking for a reset answers the same whether or not the
account exists or has an email (the API says 202 either way).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist

from chalicelib.clock import Clock
from chalicelib.errors import ResetTokenInvalid
from chalicelib.gateways.email import Mailer
from chalicelib.logs import logger
from chalicelib.models.sessions import PasswordResetModel
from chalicelib.models.users import UserModel
from chalicelib.services.accounts import AccountService
from chalicelib.services.passwords import check_password
from chalicelib.services.throttle import Limit, Throttle

# Asking for links is throttled per source address and per account asked about (whether or not
# it exists, so a 429 reveals nothing): nobody floods someone's inbox or probes at speed.
RESETS_PER_ADDRESS = Limit("reset_address", 10, 3600)
RESETS_PER_ACCOUNT = Limit("reset_account", 3, 3600)


class PasswordResets:
    def __init__(self, accounts: AccountService, clock: Clock, mailer: Mailer, ttl_seconds: int, link_base: str,
                 log_links: bool = False, throttle: Throttle | None = None):
        self._accounts = accounts
        self._throttle = throttle or Throttle(clock)
        self._clock = clock
        self._mailer = mailer
        self._ttl = timedelta(seconds=ttl_seconds)
        self._link_base = link_base
        self._log_links = log_links  # the local stack prints the link (its SES delivers nothing)

    def request(self, handle: str | None = None, email: str | None = None, source: str | None = None) -> None:
        """Email a reset link to the account's address, if there is such an account with an email.
        A few requests per hour per source address and per account asked about; then 429."""
        asked = f"email:{email.casefold()}" if email else f"handle:{(handle or '').casefold()}"
        wanted = [(RESETS_PER_ACCOUNT, asked)] + ([(RESETS_PER_ADDRESS, source)] if source is not None else [])
        self._throttle.take(*wanted, message="Too many password-reset requests; try again later.")
        user = self._accounts.user_by_email(email) if email else self._accounts.user_by_handle(handle or "")
        if user is None or not user.email:
            return
        if not self._mailer.configured:
            logger.warning("password reset asked but no email sender is configured")
            return
        token = secrets.token_urlsafe(32)
        PasswordResetModel(token_hash=_hash(token), user_id=user.user_id,
                           expires_at=self._clock.now() + self._ttl).save()
        separator = "&" if "?" in self._link_base else "?"
        link = f"{self._link_base}{separator}token={token}"
        minutes = int(self._ttl.total_seconds() // 60)
        self._mailer.send(user.email, "Reset your Parlor password",
                          f"Hi {user.display_name},\n\nSomeone (hopefully you) asked to reset the password of "
                          f"@{user.handle}. Open this link within {minutes} minutes to choose a new one:\n\n{link}\n\n"
                          "If it was not you, ignore this email: your password stays as it is.\n")
        if self._log_links:
            logger.info("password reset link (local stack)", extra={"handle": user.handle, "link": link})

    def complete(self, token: str, new_password: str) -> None:
        """Set a new password with a reset token (404 ``reset_token_invalid`` if unknown, used or
        expired) and sign out every session. A password the policy refuses leaves the token usable."""
        try:
            reset = PasswordResetModel.get(_hash(token))
            user = UserModel.get(reset.user_id)
        except DoesNotExist as exc:
            raise ResetTokenInvalid() from exc
        if reset.expires_at <= self._clock.now():
            raise ResetTokenInvalid()
        check_password(new_password, user.handle)
        try:
            reset.delete(condition=PasswordResetModel.token_hash.exists())
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ResetTokenInvalid() from exc
            raise
        self._accounts.set_password(user, new_password)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
