"""Room events: what a client must see the moment it happens.

Services hand each event to an ``EventPublisher``; the realtime gateway delivers it over
WebSockets to the audience the event names. It lives below services and gateways because
both speak it: services publish events, the gateway delivers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.clock import timestamp

# Audiences.
EVERYONE = "everyone"  # everyone connected to the space
HOSTS = "hosts"  # the host and co-hosts
USERS = "users"  # only the users listed in ``user_ids``


@dataclass(frozen=True)
class RoomEvent:
    type: str
    space_id: str
    at: datetime
    data: dict[str, Any]
    audience: str = EVERYONE
    user_ids: tuple[str, ...] = field(default=())

    def wire(self) -> dict[str, Any]:
        """The shape clients receive (the realtime contract)."""
        return {"type": self.type, "space_id": self.space_id, "at": timestamp(self.at), "data": self.data}


class EventPublisher(Protocol):
    def publish(self, event: RoomEvent) -> None: ...
