"""Signed calls between Parlor's own services (API -> worker control, worker -> API callbacks).

``X-Parlor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>`` — the
scheme Stripe uses for webhooks (the local Stripe stand-in signs with ``sign`` too): the
timestamp bounds replays, the HMAC binds body and time to the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Parlor-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes | str, now: float | None = None) -> str:
    t = int(time.time() if now is None else now)
    return f"t={t},v1={_mac(secret, t, body)}"


def verify(secret: str, body: bytes | str, header: str | None, now: float | None = None) -> bool:
    """True only for a well-formed, fresh signature made with ``secret`` over ``body``.

    An empty secret verifies nothing: anyone can compute a MAC with it."""
    if not secret or not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(_mac(secret, t, body), parts.get("v1", ""))


def _mac(secret: str, t: int, body: bytes | str) -> str:
    payload = body.encode() if isinstance(body, str) else body  # a text body is signed as UTF-8
    return hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
