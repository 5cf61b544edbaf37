"""Session tokens: short JWTs signed by the API, verified on every protected route."""

from __future__ import annotations

from datetime import timedelta

import jwt

from chalicelib.clock import Clock
from chalicelib.errors import Unauthorized

_ISSUER = "parlor"
_SESSION_AUDIENCE = "parlor-api"


class SessionTokens:
    def __init__(self, secret: str, ttl_seconds: int, clock: Clock):
        self._secret = secret
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock

    def issue(self, user_id: str) -> str:
        now = self._clock.now()
        claims = {"sub": user_id, "iss": _ISSUER, "aud": _SESSION_AUDIENCE, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> str:
        """The user id in a valid, unexpired, untampered session token; otherwise 401."""
        try:
            claims = self._decode(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The token is invalid or expired.", code="invalid_token") from exc
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
