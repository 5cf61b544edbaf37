"""Idempotency-Key on the POSTs a client retries: the first answer comes back, one thing is
made; another body with the same key is refused; a key in flight is 409; keys are per user."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from chalicelib.models.messages import MessageModel
from chalicelib.models.spaces import SpaceModel
from tests.api.rooms_support import make_host, make_person, open_room

KEY = {"Idempotency-Key": "create-7f3a9c"}


def test_a_retried_create_returns_the_same_space_and_makes_one(api):
    host = make_host(api, "host")
    first = api.post("/v1/spaces", {"title": "Morning show"}, token=host.token, headers=KEY)
    retry = api.post("/v1/spaces", {"title": "Morning show"}, token=host.token, headers=KEY)
    assert first.status == retry.status == 201
    assert retry.body == first.body and retry.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert SpaceModel.count() == 1


def test_the_same_key_with_another_body_is_refused_and_makes_nothing(api):
    host = make_host(api, "host")
    assert api.post("/v1/spaces", {"title": "Morning show"}, token=host.token, headers=KEY).status == 201
    reused = api.post("/v1/spaces", {"title": "Evening show"}, token=host.token, headers=KEY)
    assert reused.status == 422 and reused.error_code == "idempotency_key_reused"
    assert SpaceModel.count() == 1
    # The same body written differently (key order, spacing) is the same request.
    same = api.post("/v1/spaces", raw='{ "topics": [], "title": "Morning show" }', token=host.token, headers=KEY)
    assert same.status == 201 and same.headers.get("Idempotent-Replayed") == "true"


def test_keys_are_per_user(api):
    ada, bob = make_host(api, "ada"), make_host(api, "bob")
    mine = api.post("/v1/spaces", {"title": "Same title"}, token=ada.token, headers=KEY)
    theirs = api.post("/v1/spaces", {"title": "Same title"}, token=bob.token, headers=KEY)
    assert mine.status == theirs.status == 201
    assert (mine.body["creator_id"], theirs.body["creator_id"]) == (ada.id, bob.id)
    assert SpaceModel.count() == 2


def test_a_key_in_flight_is_answered_409_with_retry_after(api, monkeypatch):
    from chalicelib.wiring import services

    host = make_host(api, "host")
    spaces, create = services().spaces, services().spaces.create
    inside, finish = threading.Event(), threading.Event()

    def slow_create(*args, **kwargs):
        inside.set()
        assert finish.wait(10)
        return create(*args, **kwargs)

    monkeypatch.setattr(spaces, "create", slow_create)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(api.post, "/v1/spaces", {"title": "Slow"}, token=host.token, headers=KEY)
        assert inside.wait(10)
        concurrent = api.post("/v1/spaces", {"title": "Slow"}, token=host.token, headers=KEY)
        finish.set()
        created = first.result(timeout=10)
    assert concurrent.status == 409 and concurrent.error_code == "request_in_progress"
    assert concurrent.headers["Retry-After"] == "1"
    assert created.status == 201
    assert api.post("/v1/spaces", {"title": "Slow"}, token=host.token, headers=KEY).body == created.body
    assert SpaceModel.count() == 1


def test_an_error_is_not_kept_so_the_retry_runs_again(api):
    from chalicelib.models.users import UserModel

    person = make_person(api, "newcomer")  # too few followers to host
    refused = api.post("/v1/spaces", {"title": "First try"}, token=person.token, headers=KEY)
    assert refused.status in (403, 422) and SpaceModel.count() == 0
    UserModel(user_id=person.id).update(actions=[UserModel.follower_count.set(600)])
    assert api.post("/v1/spaces", {"title": "First try"}, token=person.token, headers=KEY).status == 201


def test_a_retried_chat_message_is_sent_once(api, clock):
    room = open_room(api)
    path = f"/v1/spaces/{room.space_id}/messages"
    key = {"Idempotency-Key": "msg-1"}
    first = api.post(path, {"text": "hello"}, token=room.host.token, headers=key)
    retry = api.post(path, {"text": "hello"}, token=room.host.token, headers=key)
    assert first.status == retry.status == 201 and retry.body["id"] == first.body["id"]
    assert [m.text for m in MessageModel.query(room.space_id)] == ["hello"]
    # The same key on another route is another request.
    later = (clock.now() + timedelta(days=1)).isoformat()
    scheduled = api.post("/v1/spaces", {"title": "Tomorrow", "scheduled_start": later}, token=room.host.token, headers=key)
    assert scheduled.status == 201 and scheduled.body["state"] == "scheduled"


def test_a_malformed_key_is_refused(api):
    host = make_host(api, "host")
    reply = api.post("/v1/spaces", {"title": "x"}, token=host.token, headers={"Idempotency-Key": "k" * 256})
    assert reply.status == 400 and reply.error_code == "invalid_idempotency_key"
    assert SpaceModel.count() == 0


def test_the_spec_declares_the_header_on_the_retriable_posts_only(api):
    spec = api.get("/openapi.json").body
    with_key = sorted(f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method, op in ops.items()
                      if any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"]))
    assert with_key == ["POST /v1/spaces", "POST /v1/spaces/{space_id}/messages", "POST /v1/spaces/{space_id}/tickets/checkout"]
