"""Recording fakes for the edges a test does not exercise for real."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import Unavailable
from chalicelib.events import RoomEvent
from chalicelib.gateways.media import MediaEndpoint
from parlor_contract.media import ControlAction
from tests.realtime_contract import check_event


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[RoomEvent] = []

    def publish(self, event: RoomEvent) -> None:
        check_event(event.wire())  # every event a test publishes is as /asyncapi.json says
        self.events.append(event)

    def types(self, space_id: str | None = None) -> list[str]:
        return [e.type for e in self.events if space_id is None or e.space_id == space_id]

    def of_type(self, kind: str) -> list[RoomEvent]:
        return [e for e in self.events if e.type == kind]


class RecordingMedia:
    """A media gateway whose workers are 'ready' at once unless told otherwise."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.recording: dict[str, bool] = {}  # what each start said about keeping the space's HLS stream
        self.stopped: list[str] = []
        self.controls: list[tuple[str, str, dict[str, Any]]] = []
        self.starting: set[str] = set()
        self.exited: list[tuple[str, int | None, str]] = []
        self.refills = 0
        self.offers: list[tuple[str, str, dict[str, str]]] = []  # (space, grant, offer) relayed

    def start(self, space_id: str, recording: bool = True) -> None:
        self.started.append(space_id)
        self.recording[space_id] = recording

    def endpoint(self, space_id: str) -> MediaEndpoint:
        if space_id in self.starting:
            raise Unavailable("The media worker is starting.", code="media_starting", retry_after=1)
        return MediaEndpoint(url=f"http://media.test/{space_id}")

    def offer(self, space_id: str, grant: str, offer: dict[str, str]) -> dict[str, str]:
        self.endpoint(space_id)
        self.offers.append((space_id, grant, offer))
        return {"sdp": f"v=0 answer for {space_id}", "type": "answer"}

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        ControlAction(action)  # services may send only what the worker understands
        self.controls.append((space_id, action, fields))
        return True

    def stop(self, space_id: str) -> None:
        self.stopped.append(space_id)

    def worker_exited(self, handle: str, exit_code: int | None, reason: str) -> None:
        self.exited.append((handle, exit_code, reason))

    def refill_pool(self) -> int:
        self.refills += 1
        return 0
