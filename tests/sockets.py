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


def none_of(ws: ClientConnection, kind: str, wait: float = 0.5) -> bool:
    """True if no event of a kind arrives before the socket stays quiet for ``wait`` seconds."""
    try:
        while True:
            if json.loads(ws.recv(timeout=wait))["type"] == kind:
                return False
    except TimeoutError:
        return True
