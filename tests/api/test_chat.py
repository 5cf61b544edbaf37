"""Chat over REST: who may post, who reads what (direct messages stay between two people),
and the send throttle."""

from __future__ import annotations

from tests.api.rooms_support import open_room


def _post(api, room, person, text, to=None):
    body = {"text": text} if to is None else {"text": text, "to_user_id": to.id}
    return api.post(f"/v1/spaces/{room.space_id}/messages", body, token=person.token)


def _history(api, room, person, **query):
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(f"/v1/spaces/{room.space_id}/messages" + (f"?{suffix}" if suffix else ""), token=person.token)


def test_direct_messages_are_read_only_by_the_two_people(api, clock):
    room = open_room(api)
    assert _post(api, room, room.host, "hello room").status == 201
    clock.advance(seconds=1)
    dm = _post(api, room, room.speaker, "just you", to=room.listener)
    assert dm.status == 201 and dm.body["to_user_id"] == room.listener.id

    def texts(person):
        reply = _history(api, room, person)
        assert reply.status == 200, reply.body
        return [m["text"] for m in reply.body["messages"]]

    assert texts(room.speaker) == ["just you", "hello room"]  # newest first
    assert texts(room.listener) == ["just you", "hello room"]
    assert texts(room.host) == ["hello room"]
    assert texts(room.cohost) == ["hello room"]


def test_history_is_for_people_who_were_in_the_room(api):
    room = open_room(api)
    _post(api, room, room.host, "hello room")
    assert _history(api, room, room.outsider).error_code == "not_in_space"
    assert _history(api, room, room.banned).error_code == "banned"


def test_history_pages_newest_first(api, clock):
    room = open_room(api)
    for n in range(5):
        assert _post(api, room, room.host, f"message {n}").status == 201
        clock.advance(seconds=1)
    first = _history(api, room, room.listener, limit=2).body
    second = _history(api, room, room.listener, limit=2, cursor=first["next_cursor"]).body
    assert [m["text"] for m in first["messages"] + second["messages"]] == [f"message {n}" for n in (4, 3, 2, 1)]


def test_who_may_post_and_to_whom(api, clock):
    room = open_room(api)
    assert _post(api, room, room.outsider, "hi").error_code == "not_in_space"
    assert _post(api, room, room.banned, "hi").error_code == "banned"
    assert _post(api, room, room.listener, "hi", to=room.outsider).error_code == "recipient_not_in_space"
    assert _post(api, room, room.listener, "hi", to=room.listener).error_code == "recipient_not_in_space"
    assert api.post(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.host.token).status == 200
    assert _post(api, room, room.speaker, "hi").error_code == "muted"
    assert _history(api, room, room.host).body["messages"] == []  # nothing refused was written


def test_one_message_a_second(api, clock):
    room = open_room(api)
    assert _post(api, room, room.listener, "one").status == 201
    refused = _post(api, room, room.listener, "two")
    assert refused.status == 429 and refused.error_code == "rate_limited"
    clock.advance(seconds=1)
    assert _post(api, room, room.listener, "three").status == 201
    assert [m["text"] for m in _history(api, room, room.listener).body["messages"]] == ["three", "one"]
