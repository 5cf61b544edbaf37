"""The pin of a space: one room message or one link that the host or a co-host puts above
the chat. It lives on the space item, so everyone who reads the space (late joiners too)
sees it, and every change is announced as ``space.updated`` with ``pinned``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.clock import Clock, timestamp
from chalicelib.errors import InvalidState, NotFound, NotModerator
from chalicelib.events import EventPublisher, RoomEvent
from chalicelib.models.messages import MessageModel
from chalicelib.models.spaces import LIVE, PinAttribute, SpaceModel

MESSAGE, URL = "message", "url"


@dataclass(frozen=True)
class PinRequest:
    message_id: str | None = None
    url: str | None = None


class Pins:
    def __init__(self, clock: Clock, events: EventPublisher):
        self._clock = clock
        self._events = events

    def pin(self, actor_id: str, space_id: str, request: PinRequest) -> SpaceModel:
        """The host or a co-host of a live space pins a room message of that space (never a
        direct message: the pin is shown to everyone) or an http(s) link; it replaces any pin."""
        space = self._pinnable(actor_id, space_id)
        now = self._clock.now()
        if request.message_id is not None:
            message = self._room_message(space_id, request.message_id)
            pin = PinAttribute(kind=MESSAGE, message_id=message.message_id, sender_id=message.sender_id,
                               text=message.text, message_created_at=message.created_at, pinned_by=actor_id, pinned_at=now)
        else:
            pin = PinAttribute(kind=URL, url=request.url, pinned_by=actor_id, pinned_at=now)
        return self._write(space, [SpaceModel.pinned.set(pin)])

    def unpin(self, actor_id: str, space_id: str) -> SpaceModel:
        """The host or a co-host of a live space takes the pin down (nothing pinned: no change, no event)."""
        space = self._pinnable(actor_id, space_id)
        if space.pinned is None:
            return space
        return self._write(space, [SpaceModel.pinned.remove()])

    def _pinnable(self, actor_id: str, space_id: str) -> SpaceModel:
        space = SpaceModel.lookup(space_id)
        if actor_id not in space.host_ids:
            raise NotModerator("Only the host and co-hosts may pin.")
        if space.state != LIVE:
            raise InvalidState(f"A {space.state} space has no chat to pin to.")
        return space

    @staticmethod
    def _room_message(space_id: str, message_id: str) -> MessageModel:
        try:
            message = MessageModel.get(space_id, message_id)
        except MessageModel.DoesNotExist:
            message = None
        # A direct message is as good as absent: pinning would show it to the whole room.
        if message is None or message.to_user_id is not None:
            raise NotFound("No such message in this space's room chat.", code="message_not_found")
        return message

    def _write(self, space: SpaceModel, actions: list[Any]) -> SpaceModel:
        try:
            # The space may end meanwhile: the pin is written only while it is live.
            space.update(actions=actions, condition=SpaceModel.state == LIVE)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise InvalidState("The space is no longer live.") from exc
            raise
        self._events.publish(RoomEvent("space.updated", space.space_id, self._clock.now(),
                                       {"space_id": space.space_id, "pinned": pin_view(space.pinned)}))
        return space


def pin_view(pin: PinAttribute | None) -> dict[str, Any] | None:
    """The pin as the space object and ``space.updated`` carry it; None when nothing is pinned."""
    if pin is None:
        return None
    message = None
    if pin.kind == MESSAGE:
        message = {"id": pin.message_id, "sender_id": pin.sender_id, "text": pin.text,
                   "created_at": timestamp(pin.message_created_at) if pin.message_created_at else None}
    return {"kind": pin.kind, "message": message, "url": pin.url if pin.kind == URL else None,
            "pinned_by": pin.pinned_by, "pinned_at": timestamp(pin.pinned_at)}
