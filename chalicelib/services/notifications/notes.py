"""What each notification says: its kind (the value clients switch on) and its texts."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from chalicelib.clock import iso
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import UserModel


class Kind(StrEnum):
    SCHEDULED = "space.scheduled"
    STARTING_SOON = "space.starting_soon"
    HOST_REMINDER = "space.host_reminder"
    LIVE = "space.live"
    CANCELED = "space.canceled"
    RESCHEDULED = "space.rescheduled"


# (title, body) of each kind, filled in with the host's display name, the space's title and its start.
_TEXTS: dict[Kind, tuple[str, str]] = {
    Kind.SCHEDULED: ("{host} scheduled a space", "“{title}” starts {start}"),
    Kind.STARTING_SOON: ("Starting soon", "“{title}” by {host} starts {start}"),
    Kind.HOST_REMINDER: ("Your space starts in 30 minutes", "“{title}” starts {start}"),
    Kind.LIVE: ("{host} is live", "“{title}”: tap to listen"),
    Kind.CANCELED: ("Space cancelled", "{host} cancelled “{title}”"),
    Kind.RESCHEDULED: ("Space moved", "“{title}” now starts {start}"),
}


def note(space: SpaceModel, kind: Kind, variant: str | None = None) -> dict[str, Any]:
    """The notification about ``space``, as it travels in jobs (JSON). ``variant`` tells apart
    notifications of one kind about one space that must each be sent (a space moved twice)."""
    host = UserModel.lookup(space.creator_id, attributes_to_get=["display_name", "handle"]).display_name
    start = iso(space.scheduled_start) or ""
    title, body = (text.format(host=host, title=space.title, start=start) for text in _TEXTS[kind])
    return {"kind": kind.value, "space_id": space.space_id, "title": title, "body": body, "variant": variant,
            "data": {"space_id": space.space_id, "title": space.title, "scheduled_start": start}}
