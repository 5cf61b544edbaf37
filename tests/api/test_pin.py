"""The pin: the host or a co-host of a live space pins one room message of that space or one
http(s) link; everyone hears it (``space.updated`` with ``pinned``) and the space object
carries it, so late joiners see it too."""

from __future__ import annotations

import pytest

from chalicelib.models.spaces import SpaceModel
from tests.api.rooms_support import make_host, open_room


def _say(api, room, person, text, to=None):
    body = {"text": text} if to is None else {"text": text, "to_user_id": to.id}
    reply = api.post(f"/v1/spaces/{room.space_id}/messages", body, token=person.token)
    assert reply.status == 201, reply.body
    return reply.body["id"]


def _pin(api, room, person, body):
    return api.put(f"/v1/spaces/{room.space_id}/pin", body, token=person.token)


def _pinned_events(events, space_id):
    return [e.data for e in events.of_type("space.updated") if e.space_id == space_id and "pinned" in e.data]


def test_the_host_pins_a_room_message_and_everyone_sees_it(api, events):
    room = open_room(api)
    message_id = _say(api, room, room.speaker, "The agenda: jazz, then questions")
    reply = _pin(api, room, room.host, {"message_id": message_id})
    assert reply.status == 200, reply.body
    pinned = reply.body["pinned"]
    assert pinned["kind"] == "message" and pinned["url"] is None and pinned["pinned_by"] == room.host.id
    assert pinned["message"]["id"] == message_id and pinned["message"]["sender_id"] == room.speaker.id
    assert pinned["message"]["text"] == "The agenda: jazz, then questions"
    # The room hears it (one event, to everyone), and it is on the space for whoever reads it later.
    [event] = _pinned_events(events, room.space_id)
    assert event["pinned"]["message"]["id"] == message_id
    assert [e.audience for e in events.of_type("space.updated") if "pinned" in e.data] == ["everyone"]
    late = api.get(f"/v1/spaces/{room.space_id}", token=room.outsider.token).body
    assert late["pinned"] == pinned


def test_a_cohost_pins_a_link_and_it_replaces_the_message(api, events, clock):
    room = open_room(api)
    _pin(api, room, room.host, {"message_id": _say(api, room, room.host, "hello")})
    reply = _pin(api, room, room.cohost, {"url": "https://example.com/agenda?x=1"})
    assert reply.status == 200, reply.body
    assert reply.body["pinned"] == {"kind": "url", "message": None, "url": "https://example.com/agenda?x=1",
                                    "pinned_by": room.cohost.id, "pinned_at": reply.body["pinned"]["pinned_at"]}
    assert [e["pinned"]["kind"] for e in _pinned_events(events, room.space_id)] == ["message", "url"]


def test_unpinning_tells_everyone_and_clears_the_space(api, events):
    room = open_room(api)
    _pin(api, room, room.host, {"url": "http://example.com"})
    reply = api.delete(f"/v1/spaces/{room.space_id}/pin", token=room.cohost2.token)
    assert reply.status == 200 and reply.body["pinned"] is None
    assert _pinned_events(events, room.space_id)[-1] == {"space_id": room.space_id, "pinned": None}
    assert api.get(f"/v1/spaces/{room.space_id}", token=room.listener.token).body["pinned"] is None
    # Nothing pinned: taking it down again changes nothing and tells nobody.
    assert api.delete(f"/v1/spaces/{room.space_id}/pin", token=room.host.token).status == 200
    assert len(_pinned_events(events, room.space_id)) == 2


@pytest.mark.parametrize("who", ["speaker", "listener", "outsider", "banned"])
def test_only_the_host_and_cohosts_may_pin_or_unpin(api, events, who):
    room = open_room(api)
    person = getattr(room, who)
    message_id = _say(api, room, room.host, "hello")
    reply = _pin(api, room, person, {"message_id": message_id})
    assert reply.status == 403 and reply.error_code == "not_moderator"
    _pin(api, room, room.host, {"message_id": message_id})
    refused = api.delete(f"/v1/spaces/{room.space_id}/pin", token=person.token)
    assert refused.status == 403 and refused.error_code == "not_moderator"
    assert SpaceModel.get(room.space_id).pinned is not None
    assert len(_pinned_events(events, room.space_id)) == 1


def test_pinning_needs_a_signed_in_caller(api):
    room = open_room(api)
    assert api.put(f"/v1/spaces/{room.space_id}/pin", {"url": "https://example.com"}).status == 401


def test_a_direct_message_cannot_be_pinned(api):
    """The pin is shown to the whole room: a direct message would leak."""
    room = open_room(api)
    dm = _say(api, room, room.host, "just between us", to=room.speaker)
    reply = _pin(api, room, room.host, {"message_id": dm})
    assert reply.status == 404 and reply.error_code == "message_not_found"
    assert SpaceModel.get(room.space_id).pinned is None


def test_a_message_of_another_space_or_none_cannot_be_pinned(api):
    room = open_room(api)
    other_host = make_host(api, "other")
    other = api.post("/v1/spaces", {"title": "Other"}, token=other_host.token).body["id"]
    elsewhere = api.post(f"/v1/spaces/{other}/messages", {"text": "mine"}, token=other_host.token)
    assert elsewhere.status == 201
    for message_id in (elsewhere.body["id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        reply = _pin(api, room, room.host, {"message_id": message_id})
        assert reply.status == 404 and reply.error_code == "message_not_found"
    assert SpaceModel.get(room.space_id).pinned is None


def test_an_ended_space_takes_no_pin(api):
    room = open_room(api)
    assert api.post(f"/v1/spaces/{room.space_id}/end", token=room.host.token).status == 200
    reply = _pin(api, room, room.host, {"url": "https://example.com"})
    assert reply.status == 409 and reply.error_code == "invalid_state"
    assert api.delete(f"/v1/spaces/{room.space_id}/pin", token=room.host.token).error_code == "invalid_state"


def test_a_scheduled_space_takes_no_pin(api, clock):
    from datetime import timedelta

    host = make_host(api, "host")
    later = (clock.now() + timedelta(hours=2)).isoformat()
    space_id = api.post("/v1/spaces", {"title": "Later", "scheduled_start": later}, token=host.token).body["id"]
    reply = api.put(f"/v1/spaces/{space_id}/pin", {"url": "https://example.com"}, token=host.token)
    assert reply.status == 409 and reply.error_code == "invalid_state"


def test_an_unknown_space_is_404(api):
    host = make_host(api, "host")
    reply = api.put("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV/pin", {"url": "https://example.com"}, token=host.token)
    assert reply.status == 404 and reply.error_code == "space_not_found"


@pytest.mark.parametrize("body", [
    {},
    {"message_id": "x", "url": "https://example.com"},
    {"url": "javascript:alert(1)"},
    {"url": "data:text/html,<script>alert(1)</script>"},
    {"url": "ftp://example.com/file"},
    {"url": "https://"},
    {"url": "https://exa mple.com"},
    {"url": "https://example.com/\nx"},
    {"url": "https://example.com/" + "a" * 2048},
    {"url": 5},
    {"message_id": ""},
    {"url": "https://example.com", "extra": 1},
])
def test_a_pin_is_exactly_one_room_message_or_one_bounded_http_link(api, body):
    room = open_room(api)
    reply = _pin(api, room, room.host, body)
    assert reply.status == 400 and reply.error_code == "validation_error", reply.body
    assert SpaceModel.get(room.space_id).pinned is None


def test_http_and_https_links_in_any_case_are_taken(api):
    room = open_room(api)
    for url in ("http://example.com", "HTTPS://Example.com/a#b", "https://example.com/" + "a" * 2000):
        reply = _pin(api, room, room.host, {"url": url})
        assert reply.status == 200 and reply.body["pinned"]["url"] == url
