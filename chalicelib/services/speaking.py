"""Who is speaking: a room's media worker measures the speakers' audio levels and reports
them, signed; the room hears them as ``speaking`` events."""

from __future__ import annotations

from chalicelib.clock import Clock
from chalicelib.errors import Unauthorized
from chalicelib.events import EventPublisher, RoomEvent
from chalicelib.models.spaces import SpaceModel
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH


class SpeakingIndicators:
    def __init__(self, clock: Clock, events: EventPublisher, service_secret: str):
        self._clock = clock
        self._events = events
        self._service_secret = service_secret

    def report(self, space_id: str, body: bytes, signature: str | None, levels: list[dict[str, object]]) -> None:
        """Only the space's worker reports its levels: ``body`` signed with the space's key, for
        this method and path (a call captured elsewhere does not verify). An unknown space is 404."""
        key = signatures.space_key(self._service_secret, space_id)
        if signatures.verify_request(key, "POST", SPEAKING_PATH.format(space_id=space_id), body, signature) is None:
            raise Unauthorized("A valid service signature is required.", code="invalid_signature")
        SpaceModel.lookup(space_id)
        self._events.publish(RoomEvent("speaking", space_id, self._clock.now(), {"speakers": levels}))
