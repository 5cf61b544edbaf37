"""Session tokens: short JWTs signed by the API, verified on every protected route."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt

from chalicelib.clock import Clock, millis
from chalicelib.errors import InvalidToken, TokenExpired, Unauthorized
from chalicelib.ids import new_id
from chalicelib.settings import InsecureSettings, Settings
from parlor_contract.media import MEDIA_GRANT_SECONDS, MEDIA_TOKEN_ALGORITHM, MediaGrant, Role

_ISSUER = "parlor"
_SESSION_AUDIENCE = "parlor-api"


class SessionTokens:
    def __init__(self, secret: str, ttl_seconds: int, clock: Clock):
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock

    def issue(self, user_id: str, session_id: str | None = None) -> str:
        return self.issue_for_session(user_id, session_id)[0] if session_id else self._encode(user_id, {})

    def issue_for_session(self, user_id: str, session_id: str) -> tuple[str, datetime]:
        """An access token of one sign-in session (claim ``sid``) and when it expires."""
        now = self._clock.now()
        return self._encode(user_id, {"sid": session_id}, now), now + self._ttl

    def session_id(self, token: str) -> str | None:
        """The ``sid`` of a token ``verify`` has accepted (None for a token without one)."""
        claims = jwt.decode(token, self._secret, algorithms=["HS256"], audience=_SESSION_AUDIENCE, issuer=_ISSUER,
                            options={"verify_exp": False, "verify_iat": False})
        sid = claims.get("sid")
        return str(sid) if sid else None

    def _encode(self, user_id: str, extra: dict[str, Any], now: datetime | None = None) -> str:
        now = now or self._clock.now()
        claims = {"sub": user_id, "iss": _ISSUER, "aud": _SESSION_AUDIENCE, "iat": now, "exp": now + self._ttl, **extra}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> str:
        """The user id in a valid, unexpired, untampered session token; otherwise 401
        ``token_expired`` (it was ours and is too old: sign in again) or ``invalid_token``
        (malformed, forged, or not a session token)."""
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError as exc:  # raised only after the signature checked out
            raise TokenExpired("The token has expired; sign in again.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("The token is invalid.") from exc
        return str(claims["sub"])

    def _decode(self, token: str) -> dict:
        # Expiry is judged by the injected clock, so tests can move time.
        claims = jwt.decode(
            token,
            self._secret,
            algorithms=["HS256"],
            audience=_SESSION_AUDIENCE,
            issuer=_ISSUER,
            options={"require": ["sub", "exp", "iat"], "verify_exp": False, "verify_iat": False},
        )
        if int(claims["exp"]) <= int(self._clock.now().timestamp()):
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims


_REALTIME_AUDIENCE = "parlor-realtime"


class RoomTokens:
    """Short-lived tokens: the realtime socket's, handed out by ``join``, and the media grant
    the API sends with each offer it relays to the room's worker (never to a client): the
    space, the user, the role and the mute the API gives them at that moment, single use.

    Media grants are signed with an Ed25519 private key that only the API holds; workers
    verify them with the public key, so a compromised worker cannot mint them. Their
    audience, algorithm and claims are the worker's contract (``parlor_contract.media``).
    """

    def __init__(self, media_private_key_pem: str, realtime_secret: str, clock: Clock,
                 media_ttl_seconds: int = MEDIA_GRANT_SECONDS, realtime_ttl_seconds: int = 300):
        self._media_key = media_private_key_pem
        self._realtime_secret = realtime_secret
        self._clock = clock
        self._media_ttl = timedelta(seconds=media_ttl_seconds)
        self._realtime_ttl = timedelta(seconds=realtime_ttl_seconds)

    def media_grant(self, space_id: str, user_id: str, role: str, muted: bool, decided_at: datetime) -> str:
        """A grant for one offer, stamped with when the API read what it grants."""
        grant = MediaGrant(space_id, user_id, Role(role), muted, grant_id=new_id(decided_at), decided_at=millis(decided_at))
        return jwt.encode(grant.claims(expires_at=decided_at + self._media_ttl), self._media_key,
                          algorithm=MEDIA_TOKEN_ALGORITHM)

    def realtime(self, space_id: str, user_id: str, role: str) -> str:
        """A token that opens one socket: its ``jti`` is spent when it connects."""
        now = self._clock.now()
        claims = {"sub": user_id, "space_id": space_id, "role": role, "aud": _REALTIME_AUDIENCE, "iss": _ISSUER,
                  "jti": uuid.uuid4().hex, "iat": now, "exp": now + self._realtime_ttl}
        return jwt.encode(claims, self._realtime_secret, algorithm="HS256")

    def verify_realtime(self, token: str) -> dict:
        """Claims of a valid realtime token (space_id, sub, role, jti, exp); otherwise 401.
        Whether it was already used is the connecting service's question (it spends the jti)."""
        try:
            claims = jwt.decode(token, self._realtime_secret, algorithms=["HS256"], audience=_REALTIME_AUDIENCE,
                                issuer=_ISSUER, options={"require": ["sub", "space_id", "jti", "exp"], "verify_exp": False,
                                                         "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("The realtime token is invalid.", code="invalid_token") from exc
        if int(claims["exp"]) <= int(self._clock.now().timestamp()):
            raise TokenExpired("The realtime token has expired; join again for a fresh one.")
        return claims


def media_keypair(settings: Settings) -> tuple[str, str]:
    """The media-token key pair as (private PEM, public PEM): the configured PEM, else the key
    derived from ``media_token_seed`` (SHA-256 of the seed is the Ed25519 private key: Secrets
    Manager generates the seed, and every Lambda derives the same key from it). The public
    half is derived from the private one; a configured public key must match it.

    Raises ``InsecureSettings`` naming the variable when neither is usable (the seed's rules
    are ``check_secrets``')."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_name, public_name = Settings.env_name("media_token_private_key"), Settings.env_name("media_token_public_key")
    if settings.media_token_private_key:
        try:
            key = serialization.load_pem_private_key(settings.media_token_private_key.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise InsecureSettings(f"{private_name} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise InsecureSettings(f"{private_name} is not an Ed25519 key")
    elif settings.media_token_seed:
        key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(settings.media_token_seed.encode()).digest())
    else:
        raise InsecureSettings(f"{Settings.env_name('media_token_seed')} (or {private_name}) is not set")
    private, public = _pems(key)
    if settings.media_token_public_key and settings.media_token_public_key.strip() != public.strip():
        raise InsecureSettings(f"{public_name} is not the public half of {private_name}")
    return private, public


def generate_media_keypair() -> tuple[str, str]:
    """A fresh Ed25519 key pair as (private PEM, public PEM): local stack and tests."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _pems(Ed25519PrivateKey.generate())


def _pems(key: Any) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public
