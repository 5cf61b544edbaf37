"""What a room's worker is told by the API: who may be heard (roles, the media token), the
control commands that change it, and where the worker reports who is speaking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"


# Who is on stage: heard by the room. Listeners only hear.
STAGE_ROLES = (Role.HOST, Role.COHOST, Role.SPEAKER)


class ControlAction(StrEnum):
    """``POST /control`` commands: JSON ``{"space_id", "action", "decided_at", "user_id"?, "role"?}``,
    signed with the space's key (``signatures.sign_request``). ``decided_at`` is when the API
    decided (Unix milliseconds): a grant decided earlier yields to it (see ``MediaGrant``)."""

    SET_ROLE = "set_role"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    CLOSE = "close"


# The worker's HTTP routes the API calls (from inside the VPC only).
OFFER_PATH = "/offer"
CONTROL_PATH = "/control"

# The worker's signed callback to the API (``{"speakers": [{"user_id", "level"}], "at"}``).
SPEAKING_PATH = "/v1/internal/spaces/{space_id}/speaking"

# Media grants: signed by the API's Ed25519 private key, verified by workers with the public key.
MEDIA_TOKEN_AUDIENCE = "parlor-media"
MEDIA_TOKEN_ALGORITHM = "EdDSA"
# A grant lives seconds: the API mints one per offer it relays; a worker refuses longer-lived ones.
MEDIA_GRANT_SECONDS = 10
MEDIA_GRANT_MAX_SECONDS = 30


@dataclass(frozen=True)
class MediaGrant:
    """What the API grants with one relayed offer: one user, in one space, in one role, muted
    or not, as the API had them when it decided (``decided_at``, Unix ms). Single use
    (``grant_id``, the JWT's ``jti``) and seconds-long: clients never hold one."""

    space_id: str
    user_id: str
    role: Role
    muted: bool
    grant_id: str
    decided_at: int

    REQUIRED_CLAIMS = ("sub", "space_id", "role", "muted", "jti", "decided_at", "iat", "exp")

    def claims(self, expires_at: datetime) -> dict[str, Any]:
        return {"sub": self.user_id, "space_id": self.space_id, "role": str(self.role), "muted": self.muted,
                "jti": self.grant_id, "decided_at": self.decided_at, "aud": MEDIA_TOKEN_AUDIENCE,
                "iat": self.decided_at // 1000, "exp": expires_at}

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> MediaGrant:
        """The grant in verified claims; ``ValueError`` for a role this contract does not know."""
        return cls(str(claims["space_id"]), str(claims["sub"]), Role(claims["role"]), claims["muted"] is True,
                   str(claims["jti"]), int(claims["decided_at"]))
