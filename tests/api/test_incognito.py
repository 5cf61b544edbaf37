"""Incognito listening: a listener hidden from the other listeners and the speakers (in the
participant list and the join/leave/remove events), seen by the host and co-hosts, counted
everywhere, never in anyone's purple circles; going on stage ends it."""

from __future__ import annotations

from chalicelib.events import EVERYONE, USERS
from tests.api.rooms_support import make_host, make_person, open_room


def _join(api, space_id, person, **body):
    reply = api.post(f"/v1/spaces/{space_id}/join", body or None, token=person.token)
    assert reply.status == 200, reply.body
    return reply.body


def _listed(api, room, viewer, **query):
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    reply = api.get(f"/v1/spaces/{room.space_id}/participants" + (f"?{suffix}" if suffix else ""), token=viewer.token)
    assert reply.status == 200, reply.body
    return reply.body


def _everyone(body):
    return {p["user_id"]: p for role in ("hosts", "cohosts", "speakers", "listeners") for p in body[role]}


def test_an_incognito_listener_is_listed_to_the_hosts_only_and_counted_for_all(api):
    room = open_room(api)
    shy = make_person(api, "shy")
    joined = _join(api, room.space_id, shy, incognito=True)
    assert joined["participant"]["role"] == "listener" and joined["participant"]["incognito"] is True
    for viewer in (room.host, room.cohost):
        seen = _everyone(_listed(api, room, viewer))
        assert seen[shy.id]["incognito"] is True and seen[room.listener.id]["incognito"] is False
    for viewer in (room.speaker, room.listener, room.outsider, shy):
        body = _listed(api, room, viewer)
        assert shy.id not in _everyone(body) and room.listener.id in _everyone(body)
        assert body["listener_count"] == 2 and body["participant_count"] == 6  # they are counted
    space = api.get(f"/v1/spaces/{room.space_id}", token=room.listener.token).body
    assert space["listener_count"] == 2


def test_hidden_listeners_do_not_break_the_listener_pages(api):
    room = open_room(api)
    shy = [make_person(api, f"shy{i}") for i in range(3)]
    for person in shy:
        _join(api, room.space_id, person, incognito=True)
    seen, cursor = [], None
    while True:
        body = _listed(api, room, room.speaker, role="listener", limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [p["user_id"] for p in body["listeners"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [room.listener.id]
    assert len(_listed(api, room, room.host, role="listener")["listeners"]) == 4


def test_the_stage_is_never_incognito(api):
    host = make_host(api, "host")
    guest = make_person(api, "guest")
    space_id = api.post("/v1/spaces", {"title": "Hi", "invited_user_ids": [guest.id]}, token=host.token).body["id"]
    invited = _join(api, space_id, guest, incognito=True)  # asked, ignored: they enter on stage
    assert invited["participant"]["role"] == "speaker" and invited["participant"]["incognito"] is False
    hosting = _join(api, space_id, host, incognito=True)
    assert hosting["participant"]["role"] == "host" and hosting["participant"]["incognito"] is False


def test_going_on_stage_ends_incognito(api):
    room = open_room(api)
    shy = make_person(api, "shy")
    _join(api, room.space_id, shy, incognito=True)
    promoted = api.put(f"/v1/spaces/{room.space_id}/participants/{shy.id}", {"role": "speaker"}, token=room.host.token)
    assert promoted.status == 200 and promoted.body["incognito"] is False
    assert shy.id in _everyone(_listed(api, room, room.listener))
    api.put(f"/v1/spaces/{room.space_id}/participants/{shy.id}", {"role": "listener"}, token=room.host.token)
    back = _everyone(_listed(api, room, room.listener))
    assert back[shy.id]["role"] == "listener" and back[shy.id]["incognito"] is False  # stays seen


def test_joining_again_keeps_the_setting_until_one_leaves(api):
    room = open_room(api)
    shy = make_person(api, "shy")
    _join(api, room.space_id, shy, incognito=True)
    assert _join(api, room.space_id, shy)["participant"]["incognito"] is True
    api.post(f"/v1/spaces/{room.space_id}/leave", token=shy.token)
    assert _join(api, room.space_id, shy)["participant"]["incognito"] is False
    assert shy.id in _everyone(_listed(api, room, room.listener))
    api.post(f"/v1/spaces/{room.space_id}/leave", token=shy.token)
    assert _join(api, room.space_id, shy, incognito=True)["participant"]["incognito"] is True
    assert shy.id not in _everyone(_listed(api, room, room.listener))


def test_incognito_comings_and_goings_reach_only_the_hosts_and_themselves(api, events):
    room = open_room(api)
    shy, open_ = make_person(api, "shy"), make_person(api, "loud")
    _join(api, room.space_id, shy, incognito=True)
    _join(api, room.space_id, open_)
    joined = {e.data["user_id"]: e for e in events.of_type("participant.joined")}
    hosts_and_them = {shy.id, room.host.id, room.cohost.id, room.cohost2.id}
    assert joined[shy.id].audience == USERS and set(joined[shy.id].user_ids) == hosts_and_them
    assert joined[shy.id].data["incognito"] is True
    assert joined[open_.id].audience == EVERYONE and "incognito" not in joined[open_.id].data
    api.post(f"/v1/spaces/{room.space_id}/leave", token=shy.token)
    api.post(f"/v1/spaces/{room.space_id}/leave", token=open_.token)
    left = {e.data["user_id"]: e for e in events.of_type("participant.left")}
    assert left[shy.id].audience == USERS and set(left[shy.id].user_ids) == hosts_and_them
    assert left[open_.id].audience == EVERYONE
    _join(api, room.space_id, shy, incognito=True)
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{shy.id}", token=room.cohost.token).status == 200
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", token=room.cohost.token).status == 200
    removed = {e.data["user_id"]: e for e in events.of_type("participant.removed")}
    assert removed[shy.id].audience == USERS and set(removed[shy.id].user_ids) == hosts_and_them
    assert removed[room.listener.id].audience == EVERYONE


def test_an_incognito_listener_is_in_nobodys_purple_circles(api):
    host, fan, shy = make_host(api, "host"), make_person(api, "fan"), make_person(api, "shy")
    assert api.put(f"/v1/me/following/{shy.id}", token=fan.token).status == 200
    space_id = api.post("/v1/spaces", {"title": "Talk"}, token=host.token).body["id"]
    _join(api, space_id, shy, incognito=True)
    assert api.get("/v1/feed/live", token=fan.token).body["spaces"] == []
    api.put(f"/v1/spaces/{space_id}/participants/{shy.id}", {"role": "speaker"}, token=host.token)
    assert [s["id"] for s in api.get("/v1/feed/live", token=fan.token).body["spaces"]] == [space_id]


def test_the_join_body_takes_incognito_with_a_transport_and_nothing_else(api):
    room = open_room(api)
    shy = make_person(api, "shy")
    body = _join(api, room.space_id, shy, incognito=True, transport="webrtc")
    assert body["transport"] == "webrtc" and body["participant"]["incognito"] is True
    bad = api.post(f"/v1/spaces/{room.space_id}/join", {"incognito": "maybe"}, token=room.outsider.token)
    assert bad.status == 400
