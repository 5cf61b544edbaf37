"""Spaces: who may host, live vs scheduled, transitions, limits, search, validation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from chalicelib.errors import DomainError
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import UserModel
from tests.api.rooms_support import make_host, make_person


def _future(clock, **delta) -> str:
    return (clock.now() + timedelta(**delta)).isoformat()


def test_hosting_needs_enough_followers(api):
    user_id, token = api.sign_up("newbie")
    UserModel(user_id=user_id).update(actions=[UserModel.follower_count.set(599)])
    reply = api.post("/v1/spaces", {"title": "Hi"}, token=token)
    assert reply.status == 403 and reply.error_code == "not_eligible_to_host"
    assert SpaceModel.count() == 0


def test_a_space_without_a_start_time_is_live_at_once(api, media, events):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Live now", "topics": ["tech"]}, token=host.token)
    assert reply.status == 201
    space = reply.body
    assert space["state"] == "live" and space["started_at"] and space["host_ids"] == [host.id]
    assert space["participant_count"] == 1 and space["topic_ids"] == ["tech"] and space["creator_id"] == host.id
    assert media.started == [space["id"]]


def test_a_space_with_a_start_time_is_scheduled(api, clock, media):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Later", "scheduled_start": _future(clock, hours=2)}, token=host.token)
    assert reply.status == 201 and reply.body["state"] == "scheduled" and reply.body["started_at"] is None
    assert media.started == []


@pytest.mark.parametrize("delta", [{"minutes": -1}, {"seconds": 0}, {"days": 30, "minutes": 1}])
def test_start_time_must_be_in_the_future_and_within_30_days(api, clock, delta):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Bad time", "scheduled_start": _future(clock, **delta)}, token=host.token)
    assert reply.status == 422 and reply.error_code == "invalid_scheduled_start"
    assert SpaceModel.count() == 0


def test_thirty_days_ahead_is_allowed(api, clock):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Far", "scheduled_start": _future(clock, days=30)}, token=host.token)
    assert reply.status == 201


def test_a_host_schedules_at_most_ten_spaces(api, clock):
    host = make_host(api, "host")
    for i in range(10):
        assert api.post("/v1/spaces", {"title": f"S{i}", "scheduled_start": _future(clock, days=1)}, token=host.token).status == 201
    reply = api.post("/v1/spaces", {"title": "S10", "scheduled_start": _future(clock, days=1)}, token=host.token)
    assert reply.status == 409 and reply.error_code == "too_many_scheduled"
    assert SpaceModel.count() == 10


def test_cancelling_frees_a_scheduling_slot(api, clock):
    host = make_host(api, "host")
    ids = [api.post("/v1/spaces", {"title": f"S{i}", "scheduled_start": _future(clock, days=1)}, token=host.token).body["id"]
           for i in range(10)]
    assert api.post(f"/v1/spaces/{ids[0]}/cancel", token=host.token).status == 200
    assert api.post("/v1/spaces", {"title": "again", "scheduled_start": _future(clock, days=1)}, token=host.token).status == 201


def test_a_host_hosts_one_live_space_at_a_time(api, clock):
    host = make_host(api, "host")
    first = api.post("/v1/spaces", {"title": "One"}, token=host.token)
    assert first.status == 201
    second = api.post("/v1/spaces", {"title": "Two"}, token=host.token)
    assert second.status == 409 and second.error_code == "already_hosting"
    scheduled = api.post("/v1/spaces", {"title": "Later", "scheduled_start": _future(clock, hours=1)}, token=host.token)
    assert api.post(f"/v1/spaces/{scheduled.body['id']}/start", token=host.token).error_code == "already_hosting"
    assert api.post(f"/v1/spaces/{first.body['id']}/end", token=host.token).status == 200
    assert api.post(f"/v1/spaces/{scheduled.body['id']}/start", token=host.token).status == 200


def test_lifecycle_transitions(api, clock, media, events):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Flow", "scheduled_start": _future(clock, hours=1)}, token=host.token).body["id"]
    assert api.post(f"/v1/spaces/{space_id}/end", token=host.token).error_code == "invalid_state"
    started = api.post(f"/v1/spaces/{space_id}/start", token=host.token)
    assert started.status == 200 and started.body["state"] == "live" and started.body["started_at"]
    assert media.started == [space_id]
    assert api.post(f"/v1/spaces/{space_id}/start", token=host.token).error_code == "invalid_state"
    assert api.post(f"/v1/spaces/{space_id}/cancel", token=host.token).error_code == "invalid_state"
    ended = api.post(f"/v1/spaces/{space_id}/end", token=host.token)
    assert ended.status == 200 and ended.body["state"] == "ended" and ended.body["ended_at"]
    assert media.stopped == [space_id] and "space.ended" in events.types(space_id)
    for action in ("start", "end", "cancel"):
        assert api.post(f"/v1/spaces/{space_id}/{action}", token=host.token).status == 409
    assert api.patch(f"/v1/spaces/{space_id}", {"title": "x"}, token=host.token).error_code == "invalid_state"


def test_cancel_a_scheduled_space(api, clock):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Nope", "scheduled_start": _future(clock, hours=1)}, token=host.token).body["id"]
    reply = api.post(f"/v1/spaces/{space_id}/cancel", token=host.token)
    assert reply.status == 200 and reply.body["state"] == "canceled"
    assert api.post(f"/v1/spaces/{space_id}/start", token=host.token).error_code == "invalid_state"
    assert api.post(f"/v1/spaces/{space_id}/join", token=host.token).status == 409


def test_edit_title_topics_and_schedule(api, clock):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Old", "scheduled_start": _future(clock, hours=1)}, token=host.token).body["id"]
    reply = api.patch(f"/v1/spaces/{space_id}", {"title": "New", "topics": ["music", "news"], "scheduled_start": _future(clock, hours=3)},
                      token=host.token)
    assert reply.status == 200 and reply.body["title"] == "New" and reply.body["topic_ids"] == ["music", "news"]
    assert reply.body["scheduled_start"].startswith((clock.now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H"))
    assert api.patch(f"/v1/spaces/{space_id}", {"scheduled_start": _future(clock, days=31)}, token=host.token).status == 422
    assert api.patch(f"/v1/spaces/{space_id}", {"colour": "red"}, token=host.token).status == 400
    other = make_person(api, "other")
    assert api.patch(f"/v1/spaces/{space_id}", {"title": "Mine"}, token=other.token).error_code == "not_host"
    assert SpaceModel.get(space_id).title == "New"


def test_a_live_space_cannot_be_rescheduled(api, clock):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Live"}, token=host.token).body["id"]
    assert api.patch(f"/v1/spaces/{space_id}", {"scheduled_start": _future(clock, hours=1)}, token=host.token).status == 409
    assert api.patch(f"/v1/spaces/{space_id}", {"title": "Renamed"}, token=host.token).status == 200


def test_concurrent_starts_and_ends_have_one_winner(container, api, clock):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Race", "scheduled_start": _future(clock, hours=1)}, token=host.token).body["id"]

    def attempt(action):
        try:
            action(host.id, space_id)
            return "won"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=6) as pool:
        starts = list(pool.map(lambda _: attempt(container.spaces.start), range(6)))
    assert starts.count("won") == 1 and set(starts) - {"won"} <= {"invalid_state", "already_hosting"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        ends = list(pool.map(lambda _: attempt(container.spaces.end), range(6)))
    assert ends.count("won") == 1 and set(ends) - {"won"} == {"invalid_state"}
    assert UserModel.get(host.id).hosting_space_id is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "x" * 71},
        {"title": 5},
        {"title": "ok", "topics": ["music", "news", "tech", "art"]},
        {"title": "ok", "scheduled_start": "2030-01-01T10:00:00"},  # no time zone
        {"title": "ok", "scheduled_start": "tomorrow"},
        {"title": "ok", "invited_user_ids": "not-a-list"},
        {"title": "ok", "unknown": 1},
        {"title": "ok", "ticket": {"price_cents": 99, "currency": "usd", "max_tickets": 10}},
        {"title": "ok", "ticket": {"price_cents": 99_901, "currency": "usd", "max_tickets": 10}},
        {"title": "ok", "ticket": {"price_cents": 500, "currency": "usd", "max_tickets": 0}},
    ],
)
def test_bad_space_bodies_get_400_and_write_nothing(api, body):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", body, token=host.token)
    assert reply.status == 400, reply.body
    assert SpaceModel.count() == 0


def test_inviting_a_missing_user_is_404(api):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "ok", "invited_user_ids": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]}, token=host.token)
    assert reply.status == 404 and SpaceModel.count() == 0


def test_ticketed_spaces_must_be_scheduled(api):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Paid", "ticket": {"price_cents": 500, "currency": "usd", "max_tickets": 5}},
                     token=host.token)
    assert reply.status == 422 and reply.error_code == "ticketed_must_be_scheduled"


def test_unknown_space_is_404(api):
    person = make_person(api, "someone")
    for path in ("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/v1/spaces/nonsense"):
        reply = api.get(path, token=person.token)
        assert reply.status == 404 and reply.error_code == "space_not_found"
    assert api.post("/v1/spaces/nonsense/join", token=person.token).status == 404


def test_search_by_state_creator_and_title(api, clock):
    ada, bob = make_host(api, "ada"), make_host(api, "bob")
    live = api.post("/v1/spaces", {"title": "Python Morning"}, token=ada.token).body["id"]
    later = api.post("/v1/spaces", {"title": "python evening", "scheduled_start": _future(clock, hours=5)},
                     token=ada.token).body["id"]
    other = api.post("/v1/spaces", {"title": "Rust hour"}, token=bob.token).body["id"]

    def ids(query):
        reply = api.get(f"/v1/spaces?{query}", token=ada.token)
        assert reply.status == 200, reply.body
        return {s["id"] for s in reply.body["spaces"]}

    assert ids("state=live") == {live, other}
    assert ids("state=scheduled") == {later}
    assert ids(f"creator_id={ada.id}") == {live, later}
    assert ids(f"creator_id={ada.id}&state=live") == {live}
    assert ids("state=live&q=PYTHON") == {live}
    assert ids("q=rust") == {other}
    assert api.get("/v1/spaces?state=bogus", token=ada.token).status == 400


def test_search_is_paginated(api):
    hosts = [make_host(api, f"host{i}") for i in range(5)]
    for h in hosts:
        api.post("/v1/spaces", {"title": "Same"}, token=h.token)
    seen, cursor = [], None
    for _ in range(5):
        reply = api.get("/v1/spaces?state=live&limit=2" + (f"&cursor={cursor}" if cursor else ""), token=hosts[0].token)
        seen += [s["id"] for s in reply.body["spaces"]]
        cursor = reply.body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
