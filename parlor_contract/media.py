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
    """``POST /control`` commands (JSON ``{"action", "user_id"?, "role"?}``, signed)."""

    SET_ROLE = "set_role"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    CLOSE = "close"


# The worker's signed callback to the API (``{"speakers": [{"user_id", "level"}], "at"}``).
SPEAKING_PATH = "/v1/internal/spaces/{space_id}/speaking"

# Media tokens: signed by the API's Ed25519 private key, verified by workers with the public key.
MEDIA_TOKEN_AUDIENCE = "parlor-media"
MEDIA_TOKEN_ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class MediaGrant:
    """What a media token grants: one user, in one space, in one role, muted or not (the
    API's state at admission: a re-offer, or a new worker after a restart, keeps a host's mute)."""

    space_id: str
    user_id: str
    role: Role
    muted: bool = False

    REQUIRED_CLAIMS = ("sub", "space_id", "role", "exp")  # ``muted`` is optional: absent means not muted

    def claims(self, issued_at: datetime, expires_at: datetime) -> dict[str, Any]:
        return {"sub": self.user_id, "space_id": self.space_id, "role": str(self.role), "muted": self.muted,
                "aud": MEDIA_TOKEN_AUDIENCE, "iat": issued_at, "exp": expires_at}

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> MediaGrant:
        """The grant in verified claims; ``ValueError`` for a role this contract does not know."""
        return cls(str(claims["space_id"]), str(claims["sub"]), Role(claims["role"]), claims.get("muted") is True)
