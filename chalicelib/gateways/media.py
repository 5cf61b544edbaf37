"""Launching and controlling the media worker of a live space.

The spaces service only sees ``MediaGateway``; the local launcher (a subprocess per space)
and the ECS launcher (a Fargate task per space) implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class MediaEndpoint:
    url: str


class MediaGateway(Protocol):
    def start(self, space_id: str) -> None:
        """Start a worker for a space that just went live (idempotent)."""

    def endpoint(self, space_id: str) -> MediaEndpoint:
        """The worker's URL once it is ready; raises ``Unavailable`` while it starts."""

    def control(self, space_id: str, action: str, **fields: Any) -> None:
        """Tell the worker about a role change, mute, removal or close (best effort)."""

    def stop(self, space_id: str) -> None:
        """Stop the worker of a space that ended (idempotent)."""


class UnavailableMedia:
    """No launcher configured: spaces run, joins answer "media unavailable, retry"."""

    def start(self, space_id: str) -> None:
        return None

    def endpoint(self, space_id: str) -> MediaEndpoint:
        from chalicelib.errors import Unavailable

        raise Unavailable("No media worker is configured.", code="media_unavailable", retry_after=5)

    def control(self, space_id: str, action: str, **fields: Any) -> None:
        return None

    def stop(self, space_id: str) -> None:
        return None
