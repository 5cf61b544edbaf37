"""Short-lived TURN relay credentials, handed out with each media admission (``join``).

Clients on networks that block UDP (or all but a few TCP ports) reach the media worker only
through a TURN relay (coturn). Its credentials follow the TURN REST API scheme that coturn
checks with ``use-auth-secret``: the username is ``<unix expiry>:<user id>`` and the password
is base64(HMAC-SHA1(shared secret, username)). coturn recomputes the password from the secret
it shares with the API, so nothing is stored, and it refuses a new allocation once the expiry
has passed (an allocation already made lives on: coturn checks the username only when a
session first authenticates, so a call outlives its credential).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Sequence

from chalicelib.clock import Clock


@dataclass(frozen=True)
class IceServer:
    """One entry of a WebRTC ``RTCConfiguration.iceServers`` list."""

    urls: tuple[str, ...]
    username: str
    credential: str


@dataclass(frozen=True)
class RelayGrant:
    """The ICE servers one participant may use, and until when they admit a new allocation
    (None when no relay is configured)."""

    ice_servers: tuple[IceServer, ...]
    expires_at: datetime | None


NO_RELAY = RelayGrant((), None)


def credential(secret: str, username: str) -> str:
    """The TURN REST API password for ``username``: base64(HMAC-SHA1(secret, username))."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


class TurnCredentials:
    """Mints relay credentials for the configured TURN URLs; no URLs, no relay."""

    def __init__(self, urls: Sequence[str], secret: str, ttl_seconds: int, clock: Clock):
        if urls and not secret:
            raise ValueError("TURN URLs are configured without a TURN secret")
        if ttl_seconds <= 0:
            raise ValueError("TURN credentials need a positive lifetime")
        self._urls = tuple(urls)
        self._secret = secret
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def grant(self, user_id: str) -> RelayGrant:
        if not self._urls:
            return NO_RELAY
        # Whole seconds: coturn reads the expiry as an integer Unix time.
        expiry = int(self._clock.now().timestamp()) + self._ttl_seconds
        username = f"{expiry}:{user_id}"
        server = IceServer(self._urls, username, credential(self._secret, username))
        return RelayGrant((server,), datetime.fromtimestamp(expiry, UTC))
