"""Trending: live spaces ranked by listeners and their growth over the last few minutes
(score = listeners + 2 x listeners gained since the oldest of the last 5 samples the minute's
tick took), filtered by topic and language, paged, without ticketed spaces the caller cannot
join.

Listener counts and ticket holdings are written to the tables directly here: the join and
checkout paths that move them are tested in test_rooms.py and test_ticketing.py; what is tested
here is how trending reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from chalice.test import Client

from chalicelib.models.spaces import SpaceModel
from chalicelib.models.tickets import TicketModel
from chalicelib.services.trending import SAMPLES
from tests.api.rooms_support import Person, make_host, make_person, open_room


def _tick() -> None:
    from app import app

    with Client(app) as client:
        client.lambda_.invoke("end_unattended_spaces", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def _live(api, handle: str, **extra) -> tuple[Person, str]:
    host = make_host(api, handle)
    reply = api.post("/v1/spaces", {"title": f"{handle}'s room", **extra}, token=host.token)
    assert reply.status == 201, reply.body
    return host, reply.body["id"]


def _listeners(space_id: str, count: int) -> None:
    SpaceModel(space_id=space_id).update(actions=[SpaceModel.listener_count.set(count)])


def _trending(api, token: str, query: str = "") -> list[str]:
    reply = api.get(f"/v1/spaces/trending{query}", token=token)
    assert reply.status == 200, reply.body
    return [s["id"] for s in reply.body["spaces"]]


def test_growth_can_outrank_a_bigger_steady_room(api):
    _, steady = _live(api, "steady")
    _, growing = _live(api, "growing")
    _, fading = _live(api, "fading")
    for space_id, count in ((steady, 10), (growing, 4), (fading, 6)):
        _listeners(space_id, count)
    _tick()  # samples: 10, 4, 6
    _listeners(growing, 9)  # +5: 9 + 10 = 19
    _listeners(fading, 3)  # lost 3: scores its 3 listeners, no penalty beyond them
    reader = make_person(api, "reader")
    assert _trending(api, reader.token) == [growing, steady, fading]  # 19, 10, 3


def test_a_space_not_yet_sampled_grew_from_nobody(api):
    _, steady = _live(api, "steady")
    _listeners(steady, 10)
    _tick()
    _, new = _live(api, "new")
    _listeners(new, 6)  # 6 + 12 = 18 > 10
    reader = make_person(api, "reader")
    assert _trending(api, reader.token) == [new, steady]


def test_growth_is_measured_over_the_last_five_samples(api):
    _, space_id = _live(api, "host")
    for count in range(1, 8):
        _listeners(space_id, count)
        _tick()
    assert [int(n) for n in SpaceModel.get(space_id).listener_samples] == [3, 4, 5, 6, 7]
    assert SAMPLES == 5


def test_the_tick_samples_live_spaces_only(api):
    host, ended = _live(api, "ended")
    assert api.post(f"/v1/spaces/{ended}/end", token=host.token).status == 200
    _, live = _live(api, "live")
    _tick()
    assert SpaceModel.get(ended).listener_samples is None
    assert SpaceModel.get(live).listener_samples == [0]


def test_only_live_spaces_trend(api, clock):
    host, ended = _live(api, "ended")
    api.post(f"/v1/spaces/{ended}/end", token=host.token)
    later = make_host(api, "later")
    api.post("/v1/spaces", {"title": "Later", "scheduled_start": (clock.now() + timedelta(hours=1)).isoformat()},
             token=later.token)
    _, live = _live(api, "live")
    reader = make_person(api, "reader")
    assert _trending(api, reader.token) == [live]


def test_filtered_by_topic_and_language(api):
    _, samba = _live(api, "samba", topics=["music"], lang="pt-BR")
    _, jazz = _live(api, "jazz", topics=["music", "culture"])
    _, futebol = _live(api, "futebol", topics=["sports"], lang="pt-BR")
    _listeners(jazz, 3)
    reader = make_person(api, "reader")
    assert _trending(api, reader.token, "?topic=music") == [jazz, samba]
    assert _trending(api, reader.token, "?topic=music&lang=pt-br") == [samba]
    assert sorted(_trending(api, reader.token, "?lang=pt-BR")) == sorted([samba, futebol])
    assert _trending(api, reader.token, "?topic=news") == []
    unknown = api.get("/v1/spaces/trending?topic=jazz", token=reader.token)
    assert unknown.status == 422 and unknown.error_code == "unknown_topic"
    bad_lang = api.get("/v1/spaces/trending?lang=xx-yy", token=reader.token)
    assert bad_lang.status == 422 and bad_lang.error_code == "invalid_lang"


def test_pages_follow_the_ranking_without_repeats(api):
    made = []
    for i in range(5):
        _, space_id = _live(api, f"host{i}")
        _listeners(space_id, 10 * (i + 1))
        made.append(space_id)
    reader = make_person(api, "reader")
    seen, cursor = [], None
    for _ in range(5):
        reply = api.get("/v1/spaces/trending?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=reader.token)
        assert reply.status == 200 and len(reply.body["spaces"]) <= 2
        seen += [s["id"] for s in reply.body["spaces"]]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    bad = api.get("/v1/spaces/trending?cursor=not-a-cursor", token=reader.token)
    assert bad.status == 400


def test_trending_needs_a_signed_in_caller(api):
    assert api.get("/v1/spaces/trending").status == 401


def _make_ticketed(space_id: str) -> None:
    SpaceModel(space_id=space_id).update(actions=[
        SpaceModel.is_ticketed.set(True), SpaceModel.ticket_price_cents.set(500), SpaceModel.ticket_currency.set("usd"),
        SpaceModel.max_tickets.set(10)])


def _ticket(space_id: str, buyer_id: str, status: str, clock) -> None:
    TicketModel(space_id=space_id, buyer_id=buyer_id, status=status, amount_cents=500, fee_cents=15, currency="usd",
                created_at=clock.now(), updated_at=clock.now()).save()


@pytest.mark.parametrize(("who", "ticket", "sees"), [
    ("outsider", None, False),
    ("outsider", "held", False),
    ("outsider", "refunded", False),
    ("outsider", "paid", True),
    ("host", None, True),
    ("cohost", None, True),
    ("guest", None, True),
])
def test_ticketed_spaces_trend_only_for_people_who_may_join(api, clock, who, ticket, sees):
    room = open_room(api)
    guest = make_person(api, "guest")
    SpaceModel(space_id=room.space_id).update(actions=[SpaceModel.invited_user_ids.set([guest.id])])
    _make_ticketed(room.space_id)
    _, free = _live(api, "free")
    person = guest if who == "guest" else getattr(room, who)
    if ticket:
        _ticket(room.space_id, person.id, ticket, clock)
    found = _trending(api, person.token)
    assert free in found and (room.space_id in found) is sees


def test_the_hidden_hosts_hook_drops_their_spaces(api, container):
    """The hook issue 19's blocks plug into (``Trending.hidden_hosts``): a space whose host or
    co-host is hidden from the caller does not trend for them."""
    room = open_room(api)
    _, other = _live(api, "other")
    reader = make_person(api, "reader")
    container.trending.hidden_hosts = lambda user_id: {room.cohost.id} if user_id == reader.id else set()
    assert _trending(api, reader.token) == [other]
    assert set(_trending(api, room.outsider.token)) == {room.space_id, other}
