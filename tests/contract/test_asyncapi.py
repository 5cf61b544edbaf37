"""The realtime channel is described machine-readably: ``GET /asyncapi.json`` is a valid
AsyncAPI 2.6 document (checked against the AsyncAPI Initiative's own JSON schema, vendored
from npm ``@asyncapi/specs``), and every event a room sends, and every action a client may
send, is in it as it really is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from chalicelib.api.asyncapi import CLIENT_ACTIONS, SERVER_EVENTS
from chalicelib.gateways.media import WorkerMediaGateway
from chalicelib.gateways.realtime import ConnectionDirectory
from chalicelib.services.realtime import RealtimeService
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH
from tests.api.rooms_support import make_person, open_room
from tests.api.test_media_gateway import RecordingLauncher, heartbeat
from tests.api.test_notifications import jobs  # noqa: F401 - a fixture
from tests.realtime_contract import check_action, check_event

ASYNCAPI_SCHEMA = Path(__file__).parent / "schemas" / "asyncapi-2.6.0.json"


def _official_validator() -> Draft7Validator:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


class SocketAnswers:
    """The realtime gateway's ``send``/``close``, recorded: answers to one socket's frames."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send(self, connection_id: str, payload: dict) -> None:
        self.sent.append(payload)

    def close(self, connection_ids: list[str]) -> None:
        pass


def test_the_document_is_public_and_valid_asyncapi(api):
    reply = api.get("/asyncapi.json")
    assert reply.status == 200
    doc = reply.body
    errors = list(_official_validator().iter_errors(doc))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    assert doc["asyncapi"] == "2.6.0"
    documented = {m["name"] for m in doc["components"]["messages"].values()}
    assert documented == set(SERVER_EVENTS) | set(CLIENT_ACTIONS)
    # the media offer is REST, referenced from the document
    assert "/v1/spaces/{space_id}/media/offer" in doc["info"]["description"]


def test_the_official_schema_refuses_a_broken_document(api):
    doc = api.get("/asyncapi.json").body
    broken = {**doc, "channels": {"/": {"subscribe": {"message": {"payload": "not a schema"}}}}}
    assert list(_official_validator().iter_errors(broken))
    assert list(_official_validator().iter_errors({k: v for k, v in doc.items() if k != "info"}))


def test_every_event_type_a_room_sends_is_documented_and_matches(api, container, events, settings, clock, jobs):  # noqa: F811
    room = open_room(api)  # joins, role changes, a ban
    space, host = room.space_id, room.host
    follower = make_person(api, "fan")
    api.put(f"/v1/me/following/{host.id}", token=follower.token)
    api.post(f"/v1/spaces/{space}/leave", token=room.listener.token)
    api.post(f"/v1/spaces/{space}/join", token=room.listener.token)
    api.post(f"/v1/spaces/{space}/speak-requests", token=room.listener.token)
    api.post(f"/v1/spaces/{space}/participants/{room.speaker.id}/mute", token=host.token)
    api.delete(f"/v1/spaces/{space}/participants/{room.speaker.id}/mute", token=room.speaker.token)
    api.post(f"/v1/spaces/{space}/messages", {"text": "hello room"}, token=room.speaker.token)
    api.post(f"/v1/spaces/{space}/messages", {"text": "psst", "to_user_id": room.cohost.id}, token=room.speaker.token)
    api.patch(f"/v1/spaces/{space}", {"title": "Evening show", "topics": ["Music"]}, token=host.token)
    body = json.dumps({"speakers": [{"user_id": room.speaker.id, "level": 0.5}]}).encode()
    signature = signatures.sign_request(signatures.space_key(settings.service_secret, space), "POST",
                                        SPEAKING_PATH.format(space_id=space), body)
    assert api.post(SPEAKING_PATH.format(space_id=space), raw=body, headers={signatures.HEADER: signature}).status == 202

    # The socket: a reaction, a chat message, a ping and a frame it refuses.
    answers = SocketAnswers()
    sockets = RealtimeService(container.room_tokens, container.membership, ConnectionDirectory(clock), container.chat,
                              answers)  # type: ignore[arg-type]
    token = api.post(f"/v1/spaces/{space}/join", token=room.cohost.token).body["realtime"]["token"]
    sockets.connect("conn-1", token)
    frames = [{"action": "reaction", "emoji": "🔥"}, {"action": "message", "text": "from the socket"}, {"action": "ping"}]
    for frame in frames:
        check_action(frame)
        clock.advance(seconds=2)  # past the chat throttle
        sockets.receive("conn-1", json.dumps(frame))
    sockets.receive("conn-1", json.dumps({"action": "dance"}))
    for answer in answers.sent:
        check_event(answer)

    # The media worker of the room is replaced.
    media = WorkerMediaGateway(RecordingLauncher(), clock, settings.service_secret, events=events)
    media.start(space)
    heartbeat(space, "http://127.0.0.1:9123", clock.now())
    media.worker_exited("handle-1", -9, "killed by signal 9")

    api.post(f"/v1/spaces/{space}/leave", token=host.token)  # the co-host acts as host
    api.post(f"/v1/spaces/{space}/join", token=host.token)
    api.post(f"/v1/spaces/{space}/end", token=host.token)
    api.post("/v1/spaces", {"title": "Encore"}, token=host.token)
    jobs.drain()  # the follower hears of it: notification.created

    for event in events.events:
        check_event(event.wire())  # (RecordingPublisher checks each as it is published, too)
    seen = {e.type for e in events.events} | {a["type"] for a in answers.sent}
    assert seen == set(SERVER_EVENTS), f"not sent: {set(SERVER_EVENTS) - seen}; undocumented: {seen - set(SERVER_EVENTS)}"
    assert [a["type"] for a in answers.sent] == ["pong", "error"]


@pytest.mark.parametrize("wire", [
    {"type": "participant.waved", "space_id": "s", "at": "2026-11-30T12:00:00Z", "data": {}},  # not documented
    {"type": "participant.left", "space_id": "s", "at": "2026-11-30T12:00:00Z", "data": {"user_id": "u", "x": 1}},
    {"type": "participant.joined", "space_id": "s", "at": "2026-11-30T12:00:00Z", "data": {"user_id": "u", "role": "king"}},
    {"type": "reaction.created", "space_id": "s", "at": "2026-11-30T12:00:00Z", "data": {"user_id": "u"}},
    {"type": "space.ended", "space_id": "s", "data": {"space_id": "s", "ended_at": "2026-11-30T12:00:00Z"}},  # no "at"
])
def test_an_event_unlike_the_document_is_caught(wire):
    with pytest.raises(AssertionError):
        check_event(wire)


@pytest.mark.parametrize("frame", [{"action": "dance"}, {"action": "message"}, {"action": "reaction", "emoji": "🦄"},
                                   {"action": "ping", "extra": True}])
def test_a_frame_unlike_the_document_is_not_an_action(frame):
    with pytest.raises(AssertionError):
        check_action(frame)

