"""Queries like the X API: spaces by ids, by creators, by topic and language; unknown query
parameters are refused; every list pages the same way (``cursor``, ``limit``, ``next_cursor``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.api import ROUTERS
from chalicelib.models.pagination import encode_cursor
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.tickets import TicketModel
from tests.api.rooms_support import Person, make_host, make_person, open_room

ALL_SPECS = [spec for router in ROUTERS for spec in router.specs]
LIST_SPECS = [s for s in ALL_SPECS if s.query is not None and "cursor" in s.query.model_fields]
UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _ids(reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [s["id"] for s in reply.body["spaces"]]


def _space(api, host: Person, title: str = "Talk", **extra) -> str:
    reply = api.post("/v1/spaces", {"title": title, **extra}, token=host.token)
    assert reply.status == 201, reply.body
    return reply.body["id"]


def _tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


def _all_pages(api, path: str, token: str, items: str, limit: int) -> tuple[list[dict], int]:
    """Follow ``next_cursor`` to the end; the items of every page and how many pages."""
    seen, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        reply = api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), token=token)
        assert reply.status == 200, reply.body
        seen += reply.body[items]
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 50


# -- unknown query parameters ----------------------------------------------------------


def test_every_query_model_forbids_unknown_parameters():
    from chalicelib.api.schemas import Query

    for spec in ALL_SPECS:
        if spec.query is not None:
            assert issubclass(spec.query, Query), f"{spec.method} {spec.path}: its query model must derive from Query"
            assert spec.query.model_config.get("extra") == "forbid"


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: f"{s.method} {s.path}")
def test_every_route_refuses_an_unknown_query_parameter_naming_it(api, spec):
    me, token = api.sign_up("curious")
    path = re.sub(r"{\w+}", UNKNOWN, spec.path) + "?limt=5"
    reply = api.call(spec.method, path, body={}, token=token if spec.auth else None)
    assert reply.status == 400, (spec.path, reply.body)
    assert reply.error_code == "validation_error" and "limt" in reply.body["error"]["message"]


def test_a_request_refused_for_an_unknown_parameter_changes_nothing(api):
    host = make_host(api, "ada")
    reply = api.post("/v1/spaces?titel=Oops", {"title": "Talk"}, token=host.token)
    assert reply.status == 400 and "titel: unknown query parameter" in reply.body["error"]["message"]
    assert _ids(api.get(f"/v1/spaces?creator_id={host.id}", token=host.token)) == []


def test_known_parameters_still_work_beside_the_check(api):
    room = open_room(api)
    reply = api.delete(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}?ban=true", token=room.host.token)
    assert reply.status == 200
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}?bann=true",
                      token=room.host.token).status == 400


# -- spaces by ids ---------------------------------------------------------------------


def test_spaces_by_ids_in_the_order_asked_unknown_ids_absent_one_batch_get(api, monkeypatch):
    ada, bob = make_host(api, "ada"), make_host(api, "bob")
    first, second = _space(api, ada, "One"), _space(api, bob, "Two")
    api.post(f"/v1/spaces/{first}/end", token=ada.token)  # any state: a lookup is not a search
    batches: list[list] = []
    real = SpaceModel.batch_get.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(SpaceModel, "batch_get",
                        classmethod(lambda cls, keys, **kw: (batches.append(list(keys)), real(cls, keys, **kw))[1]))
    reply = api.get(f"/v1/spaces?ids={second},{UNKNOWN},{first},{second}", token=ada.token)
    assert _ids(reply) == [second, first] and reply.body["next_cursor"] is None
    assert batches == [[second, UNKNOWN, first]]  # one BatchGetItem, duplicates asked once


@pytest.mark.parametrize("query", [
    "ids=" + ",".join(f"{i:026d}" for i in range(101)),  # over 100
    "ids=",
    "ids=a,,b",
    "ids=" + "x" * 65,
    "ids=a&state=live",  # a lookup stands alone
    "ids=a&limit=5",
    "ids=a&cursor=abc",
    "creator_ids=" + ",".join(f"{i:026d}" for i in range(26)),
    "creator_ids=",
    "state=open",
    "limit=0",
    "limit=101",
])
def test_bad_space_queries_are_400(api, query):
    _, token = api.sign_up("curious")
    reply = api.get(f"/v1/spaces?{query}", token=token)
    assert reply.status == 400 and reply.error_code == "validation_error", reply.body


def test_a_hundred_ids_are_one_lookup(api):
    ada = make_host(api, "ada")
    space_id = _space(api, ada)
    ids = [space_id, *(f"{i:026d}" for i in range(99))]
    assert _ids(api.get(f"/v1/spaces?ids={','.join(ids)}", token=ada.token)) == [space_id]


# -- spaces by creators, topic and language ----------------------------------------------


def test_spaces_of_several_creators_newest_first_paged_without_repeats(api, clock):
    ada, bob, cleo = make_host(api, "ada"), make_host(api, "bob"), make_host(api, "cleo")
    made = []
    for i in range(3):
        for host in (ada, bob, cleo):
            clock.advance(seconds=1)
            made.append((host, _space(api, host, f"Talk {i}", scheduled_start=(clock.now() + timedelta(days=1)).isoformat())))
    wanted = sorted((s for h, s in made if h in (ada, bob)), reverse=True)
    spaces, pages = _all_pages(api, f"/v1/spaces?creator_ids={ada.id},{bob.id}", ada.token, "spaces", limit=4)
    assert [s["id"] for s in spaces] == wanted and pages == 2
    # creator_id (one) is still understood, and joins creator_ids
    spaces, _ = _all_pages(api, f"/v1/spaces?creator_ids={ada.id}&creator_id={cleo.id}", ada.token, "spaces", limit=100)
    assert {s["creator_id"] for s in spaces} == {ada.id, cleo.id}


def test_creators_combine_with_state_topic_lang_and_title(api):
    ada, bob, cleo = make_host(api, "ada"), make_host(api, "bob"), make_host(api, "cleo")
    _space(api, cleo, "Jazz night too", topics=["Music"], lang="pt-BR")  # not one of the creators asked
    jazz = _space(api, ada, "Jazz night", topics=["Music"], lang="pt-BR")
    _space(api, ada, "Jazz chat", topics=["chill"], lang="pt-BR", scheduled_start=_tomorrow())
    rock = _space(api, bob, "Rock night", topics=["Music"], lang="en")
    api.post(f"/v1/spaces/{rock}/end", token=bob.token)
    both = f"creator_ids={ada.id},{bob.id}"
    assert _ids(api.get(f"/v1/spaces?{both}&topic=Music&lang=PT-br", token=ada.token)) == [jazz]
    assert _ids(api.get(f"/v1/spaces?{both}&topic=Music&state=ended", token=ada.token)) == [rock]
    assert _ids(api.get(f"/v1/spaces?{both}&topic=Music&q=NIGHT&state=live", token=ada.token)) == [jazz]


def test_live_spaces_by_topic_and_language_without_creators(api):
    ada, bob, cleo = make_host(api, "ada"), make_host(api, "bob"), make_host(api, "cleo")
    samba = _space(api, ada, "Samba", topics=["Music"], lang="pt-br")
    jazz = _space(api, bob, "Jazz", topics=["Music"])
    _space(api, cleo, "Football", topics=["Sports"], lang="pt-BR")
    assert _ids(api.get("/v1/spaces?lang=pt-BR&topic=Music", token=ada.token)) == [samba]
    assert set(_ids(api.get("/v1/spaces?topic=Music", token=ada.token))) == {samba, jazz}
    assert _ids(api.get("/v1/spaces?topic=food", token=ada.token)) == []  # on the list, no space has it


def test_a_language_that_is_no_tag_is_refused(api):
    _, token = api.sign_up("curious")
    reply = api.get("/v1/spaces?lang=not-a-language-tag!", token=token)
    assert reply.status == 422 and reply.error_code == "invalid_lang"


# -- every list pages the same way ----------------------------------------------------------


def _list_path(spec, room) -> str:
    """The list's path in ``room``; the host, who asks, is made staff for the staff lists."""
    if spec.path.startswith("/v1/staff/"):
        from chalicelib.admin import set_staff

        set_staff("host", True, "tests")
    return spec.path.replace("{space_id}", room.space_id).replace("{user_id}", room.host.id)


@pytest.mark.parametrize("spec", LIST_SPECS, ids=lambda s: f"{s.method} {s.path}")
def test_every_list_refuses_a_forged_cursor_and_a_bad_limit(api, spec):
    room = open_room(api)
    path = _list_path(spec, room)
    foreign = encode_cursor({"handle": {"S": "x"}})  # a key of nothing this list pages
    for query in ("cursor=not-base64!", f"cursor={foreign}", "cursor=W10", "limit=0", "limit=101", "limit=x"):
        reply = api.get(f"{path}?{query}", token=room.host.token)
        assert reply.status == 400, (query, reply.body)
        assert reply.error_code in ("invalid_cursor", "validation_error")
        if query.startswith("cursor"):
            assert reply.error_code == "invalid_cursor"


@pytest.mark.parametrize("spec", LIST_SPECS, ids=lambda s: f"{s.method} {s.path}")
def test_every_list_answers_next_cursor(api, spec):
    room = open_room(api)
    reply = api.get(f"{_list_path(spec, room)}?limit=1", token=room.host.token)
    assert reply.status == 200 and "next_cursor" in reply.body, reply.body


def test_every_list_route_takes_cursor_and_limit():
    for path in ("/v1/spaces", "/v1/feed/live", "/v1/me/tickets", "/v1/me/notifications", "/v1/spaces/{space_id}/participants",
                 "/v1/spaces/{space_id}/speak-requests", "/v1/spaces/{space_id}/messages", "/v1/spaces/{space_id}/buyers",
                 "/v1/spaces/{space_id}/audit", "/v1/users/{user_id}/followers", "/v1/users/{user_id}/following"):
        assert ("GET", path) in {(s.method, s.path) for s in LIST_SPECS}, path


def test_participants_stage_whole_first_then_listeners_a_page_at_a_time(api):
    room = open_room(api)
    listeners = [make_person(api, f"fan{i}") for i in range(5)]
    for fan in listeners:
        assert api.post(f"/v1/spaces/{room.space_id}/join", token=fan.token).status == 200
    path = f"/v1/spaces/{room.space_id}/participants"
    first = api.get(f"{path}?limit=2", token=room.outsider.token).body
    assert [p["user_id"] for p in first["hosts"]] == [room.host.id]
    assert {p["user_id"] for p in first["cohosts"]} == {room.cohost.id, room.cohost2.id}
    assert [p["user_id"] for p in first["speakers"]] == [room.speaker.id]
    assert len(first["listeners"]) <= 2 and first["next_cursor"]
    assert first["participant_count"] == 10 and first["listener_count"] == 6  # the whole room's counts
    seen, cursor = [p["user_id"] for p in first["listeners"]], first["next_cursor"]
    while cursor:
        page = api.get(f"{path}?limit=2&cursor={cursor}", token=room.outsider.token).body
        assert page["hosts"] == page["cohosts"] == page["speakers"] == []
        seen += [p["user_id"] for p in page["listeners"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted([room.listener.id, *(f.id for f in listeners)])


def test_participants_of_one_role(api):
    room = open_room(api)
    path = f"/v1/spaces/{room.space_id}/participants"
    cohosts = api.get(f"{path}?role=cohost", token=room.listener.token).body
    assert {p["user_id"] for p in cohosts["cohosts"]} == {room.cohost.id, room.cohost2.id}
    assert cohosts["hosts"] == cohosts["speakers"] == cohosts["listeners"] == [] and cohosts["next_cursor"] is None
    only_listeners = api.get(f"{path}?role=listener", token=room.listener.token).body
    assert [p["user_id"] for p in only_listeners["listeners"]] == [room.listener.id]
    assert only_listeners["hosts"] == only_listeners["speakers"] == []
    assert api.get(f"{path}?role=banned", token=room.listener.token).status == 400


def test_raised_hands_oldest_first_across_pages(api, clock):
    room = open_room(api)
    fans = [make_person(api, f"fan{i}") for i in range(3)]
    for fan in reversed(fans):  # their ids' order is not the order they raise hands in
        api.post(f"/v1/spaces/{room.space_id}/join", token=fan.token)
    for fan in fans:
        clock.advance(seconds=1)
        assert api.post(f"/v1/spaces/{room.space_id}/speak-requests", token=fan.token).status == 200
    requests, pages = _all_pages(api, f"/v1/spaces/{room.space_id}/speak-requests", room.host.token, "requests", limit=2)
    assert [r["user_id"] for r in requests] == [f.id for f in fans] and pages == 2


def test_my_tickets_newest_space_first_paged(api):
    buyer = make_person(api, "buyer")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    space_ids = sorted(f"01J{i:023d}" for i in range(5))
    for space_id in space_ids:
        TicketModel(space_id=space_id, buyer_id=buyer.id, status="paid", amount_cents=500, fee_cents=15, currency="usd",
                    created_at=at, updated_at=at).save()
    tickets, pages = _all_pages(api, "/v1/me/tickets", buyer.token, "tickets", limit=2)
    assert [t["space_id"] for t in tickets] == list(reversed(space_ids)) and pages >= 3


def test_live_feed_most_listeners_first_paged(api):
    me = make_person(api, "myself")
    hosts = [make_host(api, f"host{i}") for i in range(3)]
    spaces = []
    for i, host in enumerate(hosts):
        api.put(f"/v1/me/following/{host.id}", token=me.token)
        spaces.append(_space(api, host))
        for j in range(i):  # host2's space has the most listeners
            api.post(f"/v1/spaces/{spaces[-1]}/join", token=make_person(api, f"fan{i}{j}").token)
    feed, pages = _all_pages(api, "/v1/feed/live", me.token, "spaces", limit=2)
    assert [s["id"] for s in feed] == list(reversed(spaces)) and pages == 2
