"""Topics come from a curated list (``GET /v1/topics``): a space carries up to 3 of them;
anything else is ``unknown_topic``. Search and trending filter by topic and language."""

from __future__ import annotations

import pytest

from chalicelib.models.spaces import SpaceModel
from chalicelib.topics import TOPIC_IDS, TOPICS
from tests.api.rooms_support import make_host, make_person


def test_the_topic_list_is_public_and_curated(api):
    reply = api.get("/v1/topics")  # no token
    assert reply.status == 200
    topics = reply.body["topics"]
    assert 20 <= len(topics) <= 40
    assert [t["id"] for t in topics] == [topic_id for topic_id, _ in TOPICS]
    assert {"tech", "music", "sports", "news", "politics", "gaming", "comedy"} <= {t["id"] for t in topics}
    assert all(t["label"] for t in topics) and len({t["id"] for t in topics}) == len(topics)


def test_a_space_takes_up_to_three_topics_from_the_list(api):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "topics": ["music", "Comedy", " NEWS "]}, token=host.token)
    assert reply.status == 201, reply.body
    assert reply.body["topic_ids"] == ["music", "comedy", "news"]  # stored as the list's ids


def test_a_fourth_topic_is_refused(api):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "topics": ["music", "comedy", "news", "tech"]}, token=host.token)
    assert reply.status == 400 and SpaceModel.count() == 0


def test_the_same_topic_twice_counts_once(api):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "topics": ["music", "MUSIC"]}, token=host.token)
    assert reply.status == 201 and reply.body["topic_ids"] == ["music"]


@pytest.mark.parametrize("topic", ["jazz", "Crème", "music!", "tech stuff"])
def test_a_topic_not_on_the_list_is_unknown_topic_on_create(api, topic):
    assert topic.strip().lower() not in TOPIC_IDS
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "Show", "topics": ["music", topic]}, token=host.token)
    assert reply.status == 422 and reply.error_code == "unknown_topic", reply.body
    assert "/v1/topics" in reply.body["error"]["message"]
    assert SpaceModel.count() == 0


def test_a_topic_not_on_the_list_is_unknown_topic_on_edit(api):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Show", "topics": ["music"]}, token=host.token).body["id"]
    reply = api.patch(f"/v1/spaces/{space_id}", {"topics": ["cooking"]}, token=host.token)
    assert reply.status == 422 and reply.error_code == "unknown_topic"
    assert SpaceModel.get(space_id).topic_ids == ["music"]
    edited = api.patch(f"/v1/spaces/{space_id}", {"topics": ["food", "travel"]}, token=host.token)
    assert edited.status == 200 and edited.body["topic_ids"] == ["food", "travel"]


def test_search_filters_by_topic_and_language_and_refuses_an_unknown_topic(api):
    ada, bob, cleo = make_host(api, "ada"), make_host(api, "bob"), make_host(api, "cleo")
    samba = api.post("/v1/spaces", {"title": "Samba", "topics": ["music"], "lang": "pt-BR"}, token=ada.token).body["id"]
    jazz = api.post("/v1/spaces", {"title": "Jazz", "topics": ["music"]}, token=bob.token).body["id"]
    api.post("/v1/spaces", {"title": "Futebol", "topics": ["sports"], "lang": "pt-BR"}, token=cleo.token)
    reader = make_person(api, "reader")
    assert [s["id"] for s in api.get("/v1/spaces?topic=music&lang=pt-br", token=reader.token).body["spaces"]] == [samba]
    assert {s["id"] for s in api.get("/v1/spaces?topic=Music", token=reader.token).body["spaces"]} == {samba, jazz}
    refused = api.get("/v1/spaces?topic=jazz", token=reader.token)
    assert refused.status == 422 and refused.error_code == "unknown_topic"


def test_topics_need_no_sign_in_but_other_lists_do(api):
    assert api.get("/v1/topics").status == 200
    assert api.get("/v1/spaces/trending").status == 401
