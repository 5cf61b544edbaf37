"""How a listener hears a live space: WebRTC while the room has WebRTC seats (the cap), then
through HLS from the CDN with a signed access scoped to that space's stream; the stage always
on WebRTC; the counters by transport; a deployment without the audience tier."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from chalicelib.models.participants import ParticipantModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.settings import Settings
from parlor_contract import hls
from tests.api.audience_support import cdn_allows, cdn_url
from tests.api.rooms_support import Person, make_host, make_person
from tests.conftest import TEST_SETTINGS
from tests.support import Api, Reply

CAP = 2
NO_AUDIENCE_TIER = {"media_bucket": "", "cdn_url": ""}


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return TEST_SETTINGS.model_copy(update={"webrtc_listener_cap": CAP, **getattr(request, "param", {})})


def live_space(api: Api, **fields) -> tuple[Person, str]:
    host = make_host(api, "host")
    created = api.post("/v1/spaces", {"title": "Big room", **fields}, token=host.token)
    assert created.status == 201, created.body
    return host, created.body["id"]


def join(api: Api, space_id: str, person: Person, body: dict | None = None) -> Reply:
    return api.post(f"/v1/spaces/{space_id}/join", body, token=person.token)


def joined(api: Api, space_id: str, person: Person, body: dict | None = None) -> dict:
    reply = join(api, space_id, person, body)
    assert reply.status == 200, reply.body
    return reply.body


def counts(api: Api, space_id: str, token: str) -> tuple[int, int, int]:
    """(WebRTC listeners, HLS listeners, listeners) as the space object shows them."""
    space = api.get(f"/v1/spaces/{space_id}", token=token).body
    return space["webrtc_listener_count"], space["hls_listener_count"], space["listener_count"]


def offer(api: Api, space_id: str, person: Person) -> Reply:
    return api.post(f"/v1/spaces/{space_id}/media/offer", {"sdp": "v=0", "type": "offer"}, token=person.token)


def on_webrtc(body: dict) -> bool:
    return body["transport"] == "webrtc" and body["media"] is not None and body["hls"] is None


def on_hls(body: dict) -> bool:
    return body["transport"] == "hls" and body["media"] is None and body["hls"] is not None


# -- the cap -----------------------------------------------------------------------------


def test_listeners_beyond_the_cap_hear_the_room_through_a_signed_hls_stream(api, settings, clock):
    host, space_id = live_space(api)
    first, second, third = (make_person(api, f"listener{i}") for i in range(3))
    assert on_webrtc(joined(api, space_id, first)) and on_webrtc(joined(api, space_id, second))
    body = joined(api, space_id, third)
    assert on_hls(body) and body["participant"]["role"] == "listener"
    access = body["hls"]
    playlist = cdn_url(settings, hls.live_playlist_key(space_id))
    assert access["url"].startswith(playlist + "?")
    assert datetime.fromisoformat(access["expires_at"]) == clock.now() + timedelta(seconds=settings.hls_access_seconds)
    assert counts(api, space_id, host.token) == (2, 1, 3)

    # The CDN serves the playlist and every segment of this space's stream with it...
    assert cdn_allows(settings, clock, access["url"])
    segment = cdn_url(settings, hls.segment_key(space_id, 7))
    assert cdn_allows(settings, clock, segment, query=access["query"])
    assert cdn_allows(settings, clock, segment, cookies=access["cookies"])
    # ...but nothing without it, nothing of another space, and nothing once it expired.
    assert not cdn_allows(settings, clock, segment)
    other_host = make_host(api, "other_host")
    other_space = api.post("/v1/spaces", {"title": "Other"}, token=other_host.token).body["id"]
    assert not cdn_allows(settings, clock, cdn_url(settings, hls.live_playlist_key(other_space)), query=access["query"])
    assert not cdn_allows(settings, clock, cdn_url(settings, hls.clip_key(space_id, "01CLIP")), query=access["query"])
    clock.advance(seconds=settings.hls_access_seconds + 1)
    assert not cdn_allows(settings, clock, access["url"])


def test_a_listener_asking_for_hls_gets_it_below_the_cap(api, settings, clock):
    host, space_id = live_space(api)
    listener = make_person(api, "listener")
    body = joined(api, space_id, listener, {"transport": "hls"})
    assert on_hls(body) and cdn_allows(settings, clock, body["hls"]["url"])
    assert counts(api, space_id, host.token) == (0, 1, 1)
    # and one asking for WebRTC explicitly gets a seat while there is one
    assert on_webrtc(joined(api, space_id, make_person(api, "other"), {"transport": "webrtc"}))
    assert counts(api, space_id, host.token) == (1, 1, 2)


def test_a_webrtc_listener_asking_for_hls_moves_and_frees_the_seat(api):
    host, space_id = live_space(api)
    listener = make_person(api, "listener")
    assert on_webrtc(joined(api, space_id, listener))
    assert on_hls(joined(api, space_id, listener, {"transport": "hls"}))
    assert counts(api, space_id, host.token) == (0, 1, 1)
    assert offer(api, space_id, listener).error_code == "listening_on_hls"


def test_the_stage_hears_the_room_on_webrtc_even_when_asking_for_hls(api, media):
    speaker = make_person(api, "speaker")
    host, space_id = live_space(api, invited_user_ids=[speaker.id])
    # The stage must send audio: asking for HLS is ignored (answered with WebRTC), not refused.
    assert on_webrtc(joined(api, space_id, host, {"transport": "hls"}))
    body = joined(api, space_id, speaker, {"transport": "hls"})
    assert body["participant"]["role"] == "speaker" and on_webrtc(body)
    assert counts(api, space_id, host.token) == (0, 0, 0)
    assert offer(api, space_id, speaker).status == 200 and len(media.offers) == 1


def test_an_hls_listener_has_no_webrtc_offer(api, media):
    host, space_id = live_space(api)
    people = [make_person(api, f"listener{i}") for i in range(3)]
    bodies = [joined(api, space_id, p) for p in people]
    assert on_hls(bodies[2])
    reply = offer(api, space_id, people[2])
    assert reply.status == 409 and reply.error_code == "listening_on_hls"
    assert media.offers == []
    assert offer(api, space_id, people[0]).status == 200 and len(media.offers) == 1


def test_leaving_frees_the_right_seat(api):
    host, space_id = live_space(api)
    a, b, c, d = (make_person(api, name) for name in ("ana", "ben", "cyd", "dee"))
    for person in (a, b, c):
        joined(api, space_id, person)
    assert api.post(f"/v1/spaces/{space_id}/leave", token=a.token).status == 200
    assert counts(api, space_id, host.token) == (1, 1, 2)
    assert on_webrtc(joined(api, space_id, d))  # the freed WebRTC seat
    assert counts(api, space_id, host.token) == (2, 1, 3)
    assert api.post(f"/v1/spaces/{space_id}/leave", token=c.token).status == 200
    assert counts(api, space_id, host.token) == (2, 0, 2)
    assert on_hls(joined(api, space_id, a))  # back, but the seats are taken again


def test_an_hls_listener_invited_on_stage_joins_again_on_webrtc(api, media):
    host, space_id = live_space(api)
    people = [make_person(api, f"listener{i}") for i in range(3)]
    for person in people:
        joined(api, space_id, person)
    promoted = people[2]
    reply = api.put(f"/v1/spaces/{space_id}/participants/{promoted.id}", {"role": "speaker"}, token=host.token)
    assert reply.status == 200, reply.body
    assert counts(api, space_id, host.token) == (2, 0, 2)
    body = joined(api, space_id, promoted)
    assert body["participant"]["role"] == "speaker" and on_webrtc(body)
    assert offer(api, space_id, promoted).status == 200
    assert counts(api, space_id, host.token) == (2, 0, 2)


def test_joining_again_renews_an_hls_listeners_access(api, settings, clock):
    host, space_id = live_space(api)
    people = [make_person(api, f"listener{i}") for i in range(3)]
    first = [joined(api, space_id, p) for p in people][2]["hls"]
    clock.advance(seconds=settings.hls_access_seconds - 10)
    renewed = joined(api, space_id, people[2])
    assert on_hls(renewed)
    assert datetime.fromisoformat(renewed["hls"]["expires_at"]) == (datetime.fromisoformat(first["expires_at"])
                                                                     + timedelta(seconds=settings.hls_access_seconds - 10))
    clock.advance(seconds=20)  # the first access has expired, the renewed one works
    assert not cdn_allows(settings, clock, first["url"]) and cdn_allows(settings, clock, renewed["hls"]["url"])
    assert counts(api, space_id, host.token) == (2, 1, 3)  # counted once


def test_a_banned_hls_listener_gets_no_new_access(api):
    host, space_id = live_space(api)
    people = [make_person(api, f"listener{i}") for i in range(3)]
    for person in people:
        joined(api, space_id, person)
    banned = people[2]
    assert api.delete(f"/v1/spaces/{space_id}/participants/{banned.id}?ban=true", token=host.token).status == 200
    assert counts(api, space_id, host.token) == (2, 0, 2)
    reply = join(api, space_id, banned, {"transport": "hls"})
    assert reply.status == 403 and reply.error_code == "banned" and "hls" not in reply.body
    assert counts(api, space_id, host.token) == (2, 0, 2)


def test_the_webrtc_cap_holds_under_concurrent_joins(container, api):
    host, space_id = live_space(api)
    people = [make_person(api, f"guest{i}") for i in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        transports = list(pool.map(lambda p: container.rooms.join(p.id, space_id).transport, people))
    assert transports.count("webrtc") == CAP and transports.count("hls") == len(people) - CAP
    space = SpaceModel.get(space_id, consistent_read=True)
    assert (space.webrtc_listener_count, space.hls_listener_count, space.listener_count) == (CAP, 8, 10)
    listeners = [p for p in ParticipantModel.query(space_id) if p.role == "listener"]
    assert sum(1 for p in listeners if p.transport == "webrtc") == CAP


# -- the join body -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"transport": "carrier-pigeon"}, {"transport": "hls", "quality": "high"},
                                  {"transport": 1}])
def test_a_bad_join_body_is_400_and_changes_nothing(api, body):
    host, space_id = live_space(api)
    listener = make_person(api, "listener")
    reply = join(api, space_id, listener, body)
    assert reply.status == 400, reply.body
    assert ParticipantModel.find(space_id, listener.id) is None
    assert counts(api, space_id, host.token) == (0, 0, 0)


@pytest.mark.parametrize("body", [None, {}, {"transport": None}])
def test_a_join_without_a_transport_works(api, body):
    _, space_id = live_space(api)
    assert on_webrtc(joined(api, space_id, make_person(api, "listener"), body))


# -- without the audience tier -------------------------------------------------------------


@pytest.mark.parametrize("settings", [NO_AUDIENCE_TIER], indirect=True)
def test_without_the_audience_tier_every_listener_is_on_webrtc_uncapped(api):
    host, space_id = live_space(api)
    for i in range(CAP + 2):
        assert on_webrtc(joined(api, space_id, make_person(api, f"listener{i}")))
    assert counts(api, space_id, host.token) == (CAP + 2, 0, CAP + 2)


@pytest.mark.parametrize("settings", [NO_AUDIENCE_TIER], indirect=True)
def test_without_the_audience_tier_asking_for_hls_is_409(api):
    host, space_id = live_space(api)
    listener = make_person(api, "listener")
    reply = join(api, space_id, listener, {"transport": "hls"})
    assert reply.status == 409 and reply.error_code == "hls_unavailable"
    assert ParticipantModel.find(space_id, listener.id) is None
    assert counts(api, space_id, host.token) == (0, 0, 0)
