"""A whole room over the local stack as real processes: REST, three real WebSocket clients,
the media worker the API launches, and real audio through it."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from media_worker import ice
from tests.e2e.http import Http, join, live_space, worker_record
from tests.media_worker.peers import hears, offer_at, until
from tests.sockets import events_before_pong, next_event


def _socket(joined: dict) -> ClientConnection:
    return connect(f"{joined['realtime']['url']}/?token={joined['realtime']['token']}", open_timeout=10, legacy=True)






async def _listen_while_speaking(offer_url: str, speaker_token: str, listener_token: str) -> bool:
    """Both offer through the API (``offer_url`` from join) with their session tokens."""
    ice.gather_only_on("127.0.0.1")
    async with aiohttp.ClientSession() as session:
        status, body, speaker = await offer_at(session, offer_url, speaker_token, tone=440)
        assert status == 200, body
        status, body, listener = await offer_at(session, offer_url, listener_token)
        assert status == 200, body
        try:
            await until(lambda: hears(listener.recent(1.0), 440), timeout=15, message="the listener never heard the speaker")
            return True
        except AssertionError:
            return False
        finally:
            await speaker.close()
            await listener.close()


def test_a_room_end_to_end(stack):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    space_id, (host, speaker, listener) = live_space(http, "End to end", ("e2e_host", "e2e_speaker", "e2e_listener"))

    joined = {name: join(http, space_id, person) for name, person in
              (("host", host), ("speaker", speaker), ("listener", listener))}
    with pytest.raises(InvalidStatus):
        connect(f"{joined['host']['realtime']['url']}/?token=forged", open_timeout=10)
    sockets = {name: _socket(j) for name, j in joined.items()}

    # The listener is invited on stage: everyone sees it.
    status, _ = http.call("PUT", f"/v1/spaces/{space_id}/participants/{speaker['id']}", {"role": "speaker"}, token=host["token"])
    assert status == 200
    for ws in sockets.values():
        assert next_event(ws, "participant.role_changed")["data"]["user_id"] == speaker["id"]

    # A room message from the host over REST, a direct message from the speaker over the socket.
    assert http.call("POST", f"/v1/spaces/{space_id}/messages", {"text": "welcome"}, token=host["token"])[0] == 201
    for ws in sockets.values():
        assert next_event(ws, "message.created")["data"]["text"] == "welcome"
    sockets["speaker"].send(json.dumps({"action": "message", "text": "just you", "to_user_id": listener["id"]}))
    assert next_event(sockets["listener"], "message.created")["data"]["text"] == "just you"
    events_before_pong(sockets["speaker"])  # the gateway runs one socket's frames in turn: the message is handled
    assert "message.created" not in events_before_pong(sockets["host"])

    # Real audio: the speaker, offering through the API as a speaker now, is heard by the
    # listener, and the worker's speaking indicator reaches the sockets through the API.
    media_url = worker_record(stack, space_id)["url"]["S"]
    assert asyncio.run(_listen_while_speaking(joined["speaker"]["media"]["offer_url"], speaker["token"], listener["token"]))
    speaking = next_event(sockets["host"], "speaking", timeout=10)
    assert speaker["id"] in [s["user_id"] for s in speaking["data"]["speakers"]]

    # The listener is removed: their socket closes, the others see it.
    assert http.call("DELETE", f"/v1/spaces/{space_id}/participants/{listener['id']}", token=host["token"])[0] == 200
    assert next_event(sockets["host"], "participant.removed")["data"]["user_id"] == listener["id"]
    with pytest.raises(ConnectionClosed):
        while True:
            sockets["listener"].recv(timeout=10)

    # The host ends the space: everyone is told, sockets close, the worker goes away.
    assert http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])[0] == 200
    for name in ("host", "speaker"):
        assert next_event(sockets[name], "space.ended")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{media_url}/health", timeout=1)
        except (urllib.error.URLError, OSError):
            break
        time.sleep(0.3)
    else:
        pytest.fail("the media worker is still up after the space ended")
    assert stack.failed() == []
