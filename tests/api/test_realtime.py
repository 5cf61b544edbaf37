"""Realtime over real WebSockets: the local gateway runs in-process, calling the app's own
websocket handlers, and the app posts events back through the management API."""

from __future__ import annotations

import json
import threading
from typing import Iterator

import boto3
import pytest
from chalice.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chalicelib.models.connections import ConnectionModel
from tests.api.rooms_support import Room, open_room
from tests.realtime_gateway import api_with, publishing_to, served_gateway
from tests.servers import ServedApp
from tests.sockets import events_before_pong, next_event
from tests.support import Api


@pytest.fixture
def gateway(aws) -> Iterator[ServedApp]:
    yield from served_gateway()


@pytest.fixture
def live_settings(settings, gateway):
    """The real realtime publisher, pointed at the in-process gateway."""
    return publishing_to(settings, gateway)


@pytest.fixture
def rt(aws, clock, live_settings) -> Iterator[Api]:
    """The API with the real realtime publisher."""
    yield from api_with(live_settings, clock)


def _socket(api: Api, room: Room, person) -> ClientConnection:
    joined = api.post(f"/v1/spaces/{room.space_id}/join", token=person.token).body
    return connect(f"{joined['realtime']['url']}/?token={joined['realtime']['token']}", open_timeout=10, legacy=True)


def _connect_event(connection_id: str, token: str) -> dict:
    """A $connect event as API Gateway shapes it."""
    return {"requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": connection_id,
                               "domainName": "127.0.0.1", "stage": "dev", "apiId": "local", "requestId": "r1",
                               "messageDirection": "IN", "connectedAt": 0, "requestTimeEpoch": 0,
                               "identity": {"sourceIp": "127.0.0.1"}},
            "queryStringParameters": {"token": token}, "headers": {}, "isBase64Encoded": False}


def _refusal(url: str) -> tuple[int, dict, dict]:
    """A refused handshake's status, JSON body and headers, as a real client reads them."""
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5)
    response = refused.value.response
    return response.status_code, json.loads(response.body), {k.lower(): v for k, v in response.headers.raw_items()}


def _assert_refused(url: str, status: int, code: str) -> None:
    got_status, body, headers = _refusal(url)
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert body["error"]["message"] and body["error"]["request_id"] == headers["x-request-id"]
    assert headers["content-type"].startswith("application/json")


def test_a_refused_handshake_says_why(rt, gateway, clock):
    base = f"ws://127.0.0.1:{gateway.port}"
    _assert_refused(f"{base}/", 401, "missing_token")
    _assert_refused(f"{base}/?token=forged", 401, "invalid_token")
    assert ConnectionModel.count() == 0

    room = open_room(rt)
    joined = rt.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).body
    url = f"{joined['realtime']['url']}/?token={joined['realtime']['token']}"
    with connect(url, open_timeout=10):
        pass
    _assert_refused(url, 401, "token_used")

    fresh = rt.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).body["realtime"]
    rt.post(f"/v1/spaces/{room.space_id}/leave", token=room.listener.token)
    _assert_refused(f"{fresh['url']}/?token={fresh['token']}", 403, "not_in_space")

    rejoined = rt.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).body["realtime"]
    clock.advance(seconds=3600)
    _assert_refused(f"{rejoined['url']}/?token={rejoined['token']}", 401, "token_expired")


def test_room_events_chat_and_direct_messages(rt, clock):
    room = open_room(rt)
    host, speaker, listener = _socket(rt, room, room.host), _socket(rt, room, room.speaker), _socket(rt, room, room.listener)
    assert ConnectionModel.count() == 3

    rt.post(f"/v1/spaces/{room.space_id}/join", token=room.outsider.token)
    for ws in (host, speaker, listener):
        assert next_event(ws, "participant.joined")["data"]["user_id"] == room.outsider.id

    rt.post(f"/v1/spaces/{room.space_id}/speak-requests", token=room.listener.token)
    assert next_event(host, "speak_request.created")["data"] == {"user_id": room.listener.id}
    assert "speak_request.created" not in events_before_pong(speaker)
    assert "speak_request.created" not in events_before_pong(listener)

    rt.put(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", {"role": "speaker"}, token=room.host.token)
    for ws in (host, speaker, listener):
        assert next_event(ws, "participant.role_changed")["data"]["role"] == "speaker"

    speaker.send(json.dumps({"action": "message", "text": "hello room"}))
    for ws in (host, speaker, listener):
        assert next_event(ws, "message.created")["data"]["text"] == "hello room"

    clock.advance(seconds=1)  # one message per second
    speaker.send(json.dumps({"action": "message", "text": "psst", "to_user_id": room.listener.id}))
    assert next_event(listener, "message.created")["data"]["to_user_id"] == room.listener.id
    assert next_event(speaker, "message.created")["data"]["text"] == "psst"
    events_before_pong(speaker)  # the gateway runs one socket's frames in turn: the message is handled
    assert "message.created" not in events_before_pong(host)

    listener.send(json.dumps({"action": "reaction", "emoji": "🔥"}))
    assert next_event(host, "reaction.created")["data"] == {"user_id": room.listener.id, "emoji": "🔥"}

    host.send(json.dumps({"action": "ping"}))
    assert next_event(host, "pong")
    host.send("not json")
    assert next_event(host, "error")["data"]["code"] == "bad_frame"

    rt.delete(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", token=room.host.token)
    assert next_event(host, "participant.removed")["data"]["user_id"] == room.listener.id
    assert next_event(listener, "participant.removed")
    with pytest.raises(ConnectionClosed):
        listener.recv(timeout=5)

    rt.post(f"/v1/spaces/{room.space_id}/end", token=room.host.token)
    for ws in (host, speaker):
        assert next_event(ws, "space.ended")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert ConnectionModel.count() == 0


def test_chat_rules_on_the_socket(rt, clock):
    room = open_room(rt)
    speaker = _socket(rt, room, room.speaker)
    speaker.send(json.dumps({"action": "message", "text": "one"}))
    assert next_event(speaker, "message.created")
    speaker.send(json.dumps({"action": "message", "text": "two"}))
    assert next_event(speaker, "error")["data"]["code"] == "rate_limited"
    clock.advance(seconds=1)
    speaker.send(json.dumps({"action": "message", "text": "x" * 281}))
    assert next_event(speaker, "error")["data"]["code"] == "invalid_text"
    speaker.send(json.dumps({"action": "reaction", "emoji": "🦄"}))
    assert next_event(speaker, "error")["data"]["code"] == "invalid_reaction"
    rt.post(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.host.token)
    speaker.send(json.dumps({"action": "message", "text": "muted now"}))
    assert next_event(speaker, "error")["data"]["code"] == "muted"
    speaker.close()


def test_an_abruptly_closed_client_is_cleaned_up(rt):
    room = open_room(rt)
    ws = _socket(rt, room, room.listener)
    assert ConnectionModel.count() == 1
    ws.socket.close()  # no close frame: the TCP connection just goes away
    for _ in range(50):
        if ConnectionModel.count() == 0:
            break
        threading.Event().wait(0.1)
    assert ConnectionModel.count() == 0


def test_gone_connections_are_deleted_not_retried(rt):
    from app import app

    room = open_room(rt)
    ws = _socket(rt, room, room.host)
    # API Gateway accepted a socket that then dropped without a $disconnect reaching us.
    token = rt.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).body["realtime"]["token"]
    with Client(app) as client:
        client.lambda_.invoke("websocket_connect", _connect_event("gone-connection-id", token))
    assert ConnectionModel.count() == 2
    rt.post(f"/v1/spaces/{room.space_id}/messages", {"text": "anyone?"}, token=room.host.token)
    assert next_event(ws, "message.created")
    assert [c.connection_id for c in ConnectionModel.scan()] != ["gone-connection-id"] and ConnectionModel.count() == 1
    ws.close()


@pytest.fixture
def rt_small_inline(aws, clock, live_settings) -> Iterator[Api]:
    """The API posting inline to one connection at most: bigger audiences go through SQS."""
    yield from api_with(live_settings.model_copy(update=dict(realtime_inline_limit=1)), clock)


def test_big_rooms_fan_out_through_the_queue(rt_small_inline, settings):
    from app import app

    rt = rt_small_inline
    room = open_room(rt)
    sockets = [_socket(rt, room, p) for p in (room.host, room.speaker, room.listener)]
    rt.post(f"/v1/spaces/{room.space_id}/messages", {"text": "to everyone"}, token=room.host.token)
    assert all("message.created" not in events_before_pong(ws) for ws in sockets)  # not posted inline

    queue = settings.queue_name("realtime")
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1 and len(json.loads(messages[0]["Body"])["connection_ids"]) == 3
    with Client(app) as client:
        client.lambda_.invoke("realtime_fanout", client.events.generate_sqs_event(
            queue_name=queue, message_bodies=[messages[0]["Body"]]))
    for ws in sockets:
        assert next_event(ws, "message.created")["data"]["text"] == "to everyone"
        ws.close()
