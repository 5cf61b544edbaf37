"""Reading room events from a real WebSocket client in tests."""

from __future__ import annotations

import json
import time

from websockets.sync.client import ClientConnection


def next_event(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict:
    """The next event of a kind, skipping others, within ``timeout`` seconds overall."""
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event["type"] == kind:
            return event


def events_before_pong(ws: ClientConnection) -> list[str]:
    """The types of the events a socket gets before the answer to a ping sent now.

    Events are posted before the request that caused them returns, and a socket delivers in
    order, so an event missing from this list was never sent to this socket — proved without
    waiting for a silence."""
    ws.send(json.dumps({"action": "ping"}))
    seen = []
    while (kind := json.loads(ws.recv(timeout=10))["type"]) != "pong":
        seen.append(kind)
    return seen
