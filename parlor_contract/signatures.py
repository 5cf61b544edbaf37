"""Signed calls between Parlor's own services, and the Stripe webhook scheme.

``sign``/``verify``: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>`` — the
scheme Stripe uses for webhooks (the local Stripe stand-in signs with it).

``sign_request``/``verify_request``: what the API and a space's worker sign their calls with
(control, a pooled worker's claim, the speaking report): per-space key, method, path and a nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
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


# -- calls between the API and a space's worker ---------------------------------------------
#
# ``X-Parlor-Signature: t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA256(key, f"{t}.{n}.{METHOD} {path}." + body)>``
# The key is the space's own (``space_key``: derived from the service secret and the space id),
# so a call captured for one worker is useless at another; the method and path are signed, so
# it is useless at another route; the nonce lets the receiver refuse a replay within the
# tolerance (``NonceLedger``).


def space_key(service_secret: str, space_id: str) -> str:
    """The key that signs calls about one space (control, claim, speaking reports)."""
    if not service_secret:
        return ""  # verifies nothing (see ``verify``)
    return hmac.new(service_secret.encode(), f"parlor-space-key:{space_id}".encode(), hashlib.sha256).hexdigest()


def sign_request(key: str, method: str, path: str, body: bytes | str, now: float | None = None,
                 nonce: str | None = None) -> str:
    t = int(time.time() if now is None else now)
    n = nonce or secrets.token_hex(16)
    return f"t={t},n={n},v1={_request_mac(key, t, n, method, path, body)}"


def verify_request(key: str, method: str, path: str, body: bytes | str, header: str | None,
                   now: float | None = None) -> str | None:
    """The nonce of a well-formed, fresh signature made with ``key`` over this method, path and
    body; None otherwise. The caller refuses a nonce it has seen (``NonceLedger``)."""
    if not key or not header:
        return None
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t, n = int(parts["t"]), parts["n"]
    except (KeyError, ValueError):
        return None
    if not n or abs((time.time() if now is None else now) - t) > TOLERANCE_SECONDS:
        return None
    return n if hmac.compare_digest(_request_mac(key, t, n, method, path, body), parts.get("v1", "")) else None


class NonceLedger:
    """Nonces seen within the signatures' tolerance: a second use of one is a replay."""

    def __init__(self, keep_seconds: float = 2 * TOLERANCE_SECONDS):
        self._keep = keep_seconds
        self._seen: dict[str, float] = {}

    def first_use(self, nonce: str, now: float | None = None) -> bool:
        """Record ``nonce``; False if it was already used (and not yet forgotten)."""
        now = time.monotonic() if now is None else now
        if len(self._seen) > 1024:  # forget the expired ones now and then, not on every call
            self._seen = {k: until for k, until in self._seen.items() if until > now}
        if self._seen.get(nonce, 0.0) > now:
            return False
        self._seen[nonce] = now + self._keep
        return True


def _request_mac(key: str, t: int, nonce: str, method: str, path: str, body: bytes | str) -> str:
    payload = body.encode() if isinstance(body, str) else body
    prefix = f"{t}.{nonce}.{method.upper()} {path}.".encode()
    return hmac.new(key.encode(), prefix + payload, hashlib.sha256).hexdigest()
