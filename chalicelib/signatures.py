"""Signatures between Parlor's own services (API <-> media worker).

``X-Parlor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>`` —
the scheme Stripe uses for webhooks: the timestamp bounds replays, the HMAC binds body
and time to the shared service secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Parlor-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, now: float | None = None) -> str:
    t = int(now if now is not None else time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> bool:
    """True only for a well-formed, fresh signature made with ``secret`` over ``body``."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    current = now if now is not None else time.time()
    if abs(current - t) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
