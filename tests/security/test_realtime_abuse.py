"""Issue 15, WebSockets: one realtime token opened 2,000 sockets and every room's chat slowed
to seconds; people who left kept receiving chat. A realtime token now opens one socket, a
person keeps at most three sockets in a space (a new one closes the oldest), and leaving
closes the leaver's sockets. Each attack is made from outside: real WebSocket clients against
the local API Gateway stand-in, whose management API (@connections) calls are recorded."""

from __future__ import annotations

import json
import threading
from typing import Iterator

import jwt
import pytest
from aiohttp import web
from chalice.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chalicelib.models.connections import ConnectionModel
from tests.api.rooms_support import Person, Room, open_room
from tests.realtime_gateway import api_with, publishing_to, served_gateway
from tests.servers import ServedApp
from tests.sockets import events_before_pong, next_event
from tests.support import Api


class ManagementCalls:
    """What the app asked of the gateway's management API: (method, connection id, event type)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    @web.middleware
    async def record(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        if "/@connections/" in request.path:
            kind = json.loads(await request.read())["type"] if request.method == "POST" else ""
            self.calls.append((request.method, request.path.rsplit("/", 1)[-1], kind))
        return await handler(request)

    def deleted(self) -> set[str]:
        return {cid for method, cid, _ in self.calls if method == "DELETE"}

    def posted(self, kind: str) -> list[str]:
        return [cid for method, cid, k in self.calls if method == "POST" and k == kind]


@pytest.fixture
def management() -> ManagementCalls:
    return ManagementCalls()


@pytest.fixture
def gateway(aws, management) -> Iterator[ServedApp]:
    yield from served_gateway(management.record)


@pytest.fixture
def rt(aws, clock, settings, gateway) -> Iterator[Api]:
    """The API with the real realtime publisher, pointed at the in-process gateway."""
    yield from api_with(publishing_to(settings, gateway), clock)


def _join(api: Api, room: Room, person: Person) -> dict:
    reply = api.post(f"/v1/spaces/{room.space_id}/join", token=person.token)
    assert reply.status == 200, reply.body
    return reply.body["realtime"]


def _open(realtime: dict) -> ClientConnection:
    return connect(f"{realtime['url']}/?token={realtime['token']}", open_timeout=10, legacy=True)


def _socket(api: Api, room: Room, person: Person) -> ClientConnection:
    """A socket opened as a client does: join (again), then connect with the fresh token."""
    return _open(_join(api, room, person))


def _closed(ws: ClientConnection) -> bool:
    """True if the server closes the socket (after whatever it still had to say), False if it stays open."""
    try:
        while True:
            ws.recv(timeout=5)
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


def _connect_event(connection_id: str, token: str | None) -> dict:
    """A $connect event as API Gateway shapes it."""
    return {"requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": connection_id,
                               "domainName": "127.0.0.1", "stage": "dev", "apiId": "local", "requestId": "r1",
                               "messageDirection": "IN", "connectedAt": 0, "requestTimeEpoch": 0,
                               "identity": {"sourceIp": "127.0.0.1"}},
            "queryStringParameters": {"token": token} if token else None, "headers": {}, "isBase64Encoded": False}


def _invoke_connect(connection_id: str, token: str | None) -> tuple[int, str | None]:
    """The $connect handler's answer as API Gateway gets it: (status, error code)."""
    from app import app

    with Client(app) as client:
        payload = client.lambda_.invoke("websocket_connect", _connect_event(connection_id, token)).payload
    status = int((payload or {}).get("statusCode", 200))
    return status, json.loads(payload["body"])["error"]["code"] if status >= 300 else None


def _connection_ids(user_id: str) -> set[str]:
    return {c.connection_id for c in ConnectionModel.by_user.query(user_id)}


# -- a realtime token opens one socket ---------------------------------------------------------


def test_a_realtime_token_opens_one_socket_and_a_reconnect_joins_again(rt):
    room = open_room(rt)
    realtime = _join(rt, room, room.listener)
    first = _open(realtime)
    with pytest.raises(InvalidStatus) as refused:
        _open(realtime)  # the same token again: API Gateway refuses the upgrade
    assert refused.value.response.status_code == 401  # and the body says token_used (README "Realtime")
    assert _invoke_connect("replayed-connection", realtime["token"]) == (401, "token_used")
    assert ConnectionModel.count() == 1
    assert events_before_pong(first) == []  # the first socket is unharmed

    first.close()
    again = _socket(rt, room, room.listener)  # joining again (idempotent) hands out a fresh token
    assert events_before_pong(again) == []
    assert rt.get(f"/v1/spaces/{room.space_id}/participants", token=room.host.token).body["participant_count"] == 5
    again.close()


def test_concurrent_connects_with_one_token_open_one_socket(rt):
    room = open_room(rt)
    token = _join(rt, room, room.listener)["token"]
    answers: list[tuple[int, str | None]] = []
    start = threading.Barrier(8)

    def connect_once(i: int) -> None:
        start.wait()
        answers.append(_invoke_connect(f"racing-{i}", token))

    threads = [threading.Thread(target=connect_once, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers, key=str) == [(200, None)] + [(401, "token_used")] * 7
    assert ConnectionModel.count() == 1


def test_a_realtime_token_without_an_id_is_refused(rt, settings, clock):
    """A token minted before tokens carried a ``jti`` (or forged without one) cannot be spent."""
    room = open_room(rt)
    now = int(clock.now().timestamp())
    unspendable = jwt.encode({"sub": room.listener.id, "space_id": room.space_id, "role": "listener", "aud": "parlor-realtime",
                              "iss": "parlor", "iat": now, "exp": now + 300}, settings.jwt_secret, algorithm="HS256")
    assert _invoke_connect("no-jti", unspendable) == (401, "invalid_token")
    assert _invoke_connect("no-token", None) == (401, "missing_token")
    assert ConnectionModel.count() == 0


# -- at most three sockets per person per space --------------------------------------------------


def test_ten_sockets_of_one_person_leave_the_newest_three_open(rt, management, clock):
    room = open_room(rt)
    host = _socket(rt, room, room.host)
    sockets = []
    for _ in range(10):  # the 2,000-socket attack in miniature, each socket with a fresh token
        sockets.append(_socket(rt, room, room.listener))
        clock.advance(seconds=1)

    assert [_closed(ws) for ws in sockets[:7]] == [True] * 7  # the oldest, closed as newer ones came
    for ws in sockets[7:]:
        assert events_before_pong(ws) == []  # the newest three still talk
    kept = _connection_ids(room.listener.id)
    assert len(kept) == 3
    assert len(management.deleted()) == 7 and not management.deleted() & kept  # closed through delete_connection
    assert events_before_pong(host) == [] and len(_connection_ids(room.host.id)) == 1  # nobody else's touched

    rt.post(f"/v1/spaces/{room.space_id}/messages", {"text": "hello"}, token=room.host.token)
    assert next_event(host, "message.created")["data"]["text"] == "hello"
    assert sorted(management.posted("message.created")) == sorted([*kept, *_connection_ids(room.host.id)])
    for ws in [host, *sockets[7:]]:
        ws.close()


# -- leaving closes the leaver's sockets -----------------------------------------------------


def test_leaving_closes_the_leavers_sockets_and_chat_no_longer_reaches_them(rt, management):
    room = open_room(rt)
    host = _socket(rt, room, room.host)
    leaver = [_socket(rt, room, room.listener), _socket(rt, room, room.listener)]
    leaver_ids = _connection_ids(room.listener.id)
    assert len(leaver_ids) == 2

    assert rt.post(f"/v1/spaces/{room.space_id}/leave", token=room.outsider.token).body == {"ok": False}
    assert management.deleted() == set()  # not in the room: nothing closed

    assert rt.post(f"/v1/spaces/{room.space_id}/leave", token=room.listener.token).body == {"ok": True}
    for ws in leaver:
        assert next_event(ws, "participant.left")["data"]["user_id"] == room.listener.id  # told, then closed
        assert _closed(ws)
    assert management.deleted() == leaver_ids and _connection_ids(room.listener.id) == set()

    rt.post(f"/v1/spaces/{room.space_id}/messages", {"text": "after you left"}, token=room.host.token)
    assert next_event(host, "message.created")["data"]["text"] == "after you left"
    assert not set(management.posted("message.created")) & leaver_ids
    assert events_before_pong(host) == []
    host.close()
