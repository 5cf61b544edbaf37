"""Sign-in sessions: short-lived access tokens and rotating refresh tokens.

Each sign-in starts a session (one DynamoDB item, the refresh-token "family"). Its refresh
token is ``<session id>.<generation>.<random>``; only its SHA-256 is stored. Refreshing
spends it: one conditional update swaps the stored hash for the next token's, so of two
refreshes with the same token exactly one wins. A spent token that comes back (an earlier
generation, or the loser of such a race) means two parties hold the family's tokens — one of
them a thief — so the whole session is revoked (OAuth 2.0 Security BCP, refresh token
rotation with reuse detection). Access tokens name their session (``sid``); authentication
refuses them once it is revoked (logout, password change, reset, account deletion).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import Unauthorized
from chalicelib.ids import new_id
from chalicelib.models.sessions import SessionModel
from chalicelib.services.tokens import SessionTokens


@dataclass(frozen=True)
class Grant:
    """What a sign-in or a refresh hands out."""

    token: str  # the access token (the field keeps its old name for older clients)
    refresh_token: str
    token_expires_at: datetime
    session_id: str


class Sessions:
    def __init__(self, tokens: SessionTokens, clock: Clock, refresh_ttl_seconds: int):
        self._tokens = tokens
        self._clock = clock
        self._refresh_ttl = timedelta(seconds=refresh_ttl_seconds)

    def start(self, user_id: str) -> Grant:
        """A new session for a user who just proved who they are."""
        now = self._clock.now()
        session_id = new_id(now)
        refresh_token = _refresh_token(session_id, 0)
        SessionModel(session_id=session_id, user_id=user_id, refresh_hash=_hash(refresh_token), generation=0,
                     revoked=False, created_at=now, expires_at=now + self._refresh_ttl).save(
            condition=SessionModel.session_id.does_not_exist())
        return self._grant(user_id, session_id, refresh_token)

    def refresh(self, refresh_token: str) -> tuple[str, Grant]:
        """Spend a refresh token for a new access token and a new refresh token: (user id, grant).
        An unknown, expired or revoked one is 401; a spent one revokes its session (401
        ``refresh_token_reused``). Each refresh moves the session's expiry (an idle timeout)."""
        session_id, generation = _parse(refresh_token)
        try:
            session = SessionModel.get(session_id)
        except DoesNotExist as exc:
            raise Unauthorized("The refresh token is not valid.", code="invalid_token") from exc
        now = self._clock.now()
        if session.revoked:
            raise Unauthorized("This session was signed out.", code="session_revoked")
        if session.expires_at <= now:
            raise Unauthorized("The session expired; sign in again.", code="session_expired")
        presented = _hash(refresh_token)
        if presented != session.refresh_hash:
            if generation < int(session.generation):
                self._reused(session_id)
            raise Unauthorized("The refresh token is not valid.", code="invalid_token")
        following = _refresh_token(session_id, generation + 1)
        try:
            SessionModel(session_id=session_id).update(
                actions=[SessionModel.refresh_hash.set(_hash(following)), SessionModel.generation.set(generation + 1),
                         SessionModel.expires_at.set(now + self._refresh_ttl)],
                condition=(SessionModel.refresh_hash == presented) & (SessionModel.revoked == False))  # noqa: E712
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            self._reused(session_id)  # spent by a concurrent refresh (or revoked meanwhile)
        return session.user_id, self._grant(session.user_id, session_id, following)

    def check(self, session_id: str | None, user_id: str) -> None:
        """Authentication's question: is this access token's session still signed in? One GetItem."""
        if not session_id:
            raise Unauthorized("The token is not a session token.", code="invalid_token")
        try:
            session = SessionModel.get(session_id, attributes_to_get=["user_id", "revoked"])
        except DoesNotExist as exc:
            raise Unauthorized("This session no longer exists.", code="session_revoked") from exc
        if session.revoked or session.user_id != user_id:
            raise Unauthorized("This session was signed out.", code="session_revoked")

    def end(self, session_id: str) -> None:
        """Revoke one session (logout): its refresh token and its access tokens stop working."""
        try:
            SessionModel(session_id=session_id).update(actions=[SessionModel.revoked.set(True)],
                                                       condition=SessionModel.session_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise

    def end_all(self, user_id: str, keep: str | None = None) -> int:
        """Revoke every session of a user but ``keep``; returns how many were revoked."""
        ended = 0
        for session in SessionModel.by_user.query(user_id):
            if session.session_id != keep:
                self.end(session.session_id)
                ended += 1
        return ended

    def _reused(self, session_id: str) -> None:
        self.end(session_id)
        raise Unauthorized("This refresh token was already used; the session is signed out.",
                           code="refresh_token_reused")

    def _grant(self, user_id: str, session_id: str, refresh_token: str) -> Grant:
        token, expires_at = self._tokens.issue_for_session(user_id, session_id)
        return Grant(token, refresh_token, expires_at, session_id)


def _refresh_token(session_id: str, generation: int) -> str:
    return f"{session_id}.{generation}.{secrets.token_urlsafe(32)}"


def _parse(refresh_token: str) -> tuple[str, int]:
    session_id, _, rest = refresh_token.partition(".")
    generation, _, secret = rest.partition(".")
    if not session_id or not generation.isdigit() or len(generation) > 9 or not secret or len(session_id) > 64:
        raise Unauthorized("The refresh token is not valid.", code="invalid_token")
    return session_id, int(generation)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
