"""Who is speaking: a room's media worker measures the speakers' audio levels and reports
them, signed; the room hears them as ``speaking`` events."""

from __future__ import annotations

from chalicelib.clock import Clock
from chalicelib.errors import Unauthorized
from chalicelib.events import EventPublisher, RoomEvent
from parlor_contract import signatures


class SpeakingIndicators:
    def __init__(self, clock: Clock, events: EventPublisher, service_secret: str):
        self._clock = clock
        self._events = events
        self._service_secret = service_secret

    def report(self, space_id: str, body: bytes, signature: str | None, levels: list[dict[str, object]]) -> None:
        """Only a worker (which holds the service secret) reports levels; ``body`` is what it signed."""
        if not signatures.verify(self._service_secret, body, signature):
            raise Unauthorized("A valid service signature is required.", code="invalid_signature")
        self._events.publish(RoomEvent("speaking", space_id, self._clock.now(), {"speakers": levels}))
