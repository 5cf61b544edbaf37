"""Checking what the API sends: media tokens (Ed25519, verify-only) and signed control calls.

The signature scheme mirrors ``chalicelib.signatures`` (the worker does not import the API's
code): ``t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>``, fresh within 300 s.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

SIGNATURE_HEADER = "X-Parlor-Signature"
TOLERANCE_SECONDS = 300
STAGE_ROLES = ("host", "cohost", "speaker")


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class MediaClaims:
    user_id: str
    role: str

    @property
    def on_stage(self) -> bool:
        return self.role in STAGE_ROLES


def verify_media_token(token: str, public_key: str, space_id: str) -> MediaClaims:
    try:
        claims = jwt.decode(token, public_key, algorithms=["EdDSA"], audience="parlor-media",
                            options={"require": ["sub", "space_id", "role", "exp"], "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims["space_id"] != space_id:
        raise InvalidToken("token is for another space")
    return MediaClaims(str(claims["sub"]), str(claims["role"]))


def sign(secret: str, body: bytes, now: float | None = None) -> str:
    t = int(time.time() if now is None else now)
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def verify_signature(secret: str, body: bytes, header: str | None, now: float | None = None) -> bool:
    if not header or not secret:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
