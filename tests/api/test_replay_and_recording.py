"""Recording and clipping per space, an ended space's replay (signed, for 30 days, for whoever
may hear the space), and its host deleting the recording."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chalicelib.settings import Settings
from parlor_contract import hls
from tests.api.audience_support import cdn_allows, cdn_url, keys_under, media_bucket, put  # noqa: F401 - a fixture
from tests.api.rooms_support import Person, make_host, make_person, open_room
from tests.api.test_ticketing import onboarded_host, pay, shop, stripe_standin, ticketed_space  # noqa: F401 - fixtures
from tests.conftest import TEST_SETTINGS
from tests.support import Api

NO_AUDIENCE_TIER = {"media_bucket": "", "cdn_url": ""}


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    # Tokens that outlive the 31 days these tests move the clock by.
    return TEST_SETTINGS.model_copy(update={"token_ttl_seconds": 60 * 24 * 3600, **getattr(request, "param", {})})


@pytest.fixture(autouse=True)
def _bucket(media_bucket: str) -> None:  # noqa: F811
    """Every test here leaves the media bucket empty."""


def space(api: Api, space_id: str, token: str) -> dict:
    reply = api.get(f"/v1/spaces/{space_id}", token=token)
    assert reply.status == 200, reply.body
    return reply.body


def ended_space(api: Api, host: Person, with_replay: bool = True, **fields) -> dict:
    """A space that went live and ended; its worker wrote the replay playlist (unless told not to)."""
    created = api.post("/v1/spaces", {"title": "Recorded", **fields}, token=host.token)
    assert created.status == 201, created.body
    return end(api, host, created.body["id"], with_replay)


def end(api: Api, host: Person, space_id: str, with_replay: bool = True) -> dict:
    ended = api.post(f"/v1/spaces/{space_id}/end", token=host.token)
    assert ended.status == 200, ended.body
    if with_replay:
        put(hls.segment_key(space_id, 0), b"segment")
        put(hls.replay_playlist_key(space_id), "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n00000000.ts\n#EXT-X-ENDLIST\n")
    return ended.body


def replay(api: Api, space_id: str, person: Person):
    return api.get(f"/v1/spaces/{space_id}/replay", token=person.token)


# -- recording and clipping ------------------------------------------------------------------


def test_recording_and_clipping_are_on_unless_the_host_turns_them_off(api):
    host = make_host(api, "host")
    default = api.post("/v1/spaces", {"title": "Default"}, token=host.token).body
    assert (default["recording"], default["clipping"], default["has_replay"]) == (True, True, False)
    api.post(f"/v1/spaces/{default['id']}/end", token=host.token)
    off = api.post("/v1/spaces", {"title": "Off the record", "recording": False, "clipping": False}, token=host.token)
    assert off.status == 201 and (off.body["recording"], off.body["clipping"]) == (False, False)
    assert api.post("/v1/spaces", {"title": "Bad", "recording": "yes please"}, token=host.token).status == 400


def test_recording_is_chosen_while_scheduled_and_fixed_once_live(api, clock, events):
    host = make_host(api, "host")
    start = (clock.now() + timedelta(hours=1)).isoformat()
    space_id = api.post("/v1/spaces", {"title": "Later", "scheduled_start": start}, token=host.token).body["id"]
    edited = api.patch(f"/v1/spaces/{space_id}", {"recording": False}, token=host.token)
    assert edited.status == 200 and edited.body["recording"] is False
    updates = [e.data for e in events.of_type("space.updated") if e.space_id == space_id]
    assert updates[-1]["recording"] is False and updates[-1]["clipping"] is True

    assert api.post(f"/v1/spaces/{space_id}/start", token=host.token).status == 200
    went_live = [e.data for e in events.of_type("space.updated") if e.space_id == space_id][-1]
    assert went_live["state"] == "live" and went_live["recording"] is False and went_live["clipping"] is True

    refused = api.patch(f"/v1/spaces/{space_id}", {"recording": True}, token=host.token)
    assert refused.status == 409 and refused.error_code == "recording_fixed"
    assert space(api, space_id, host.token)["recording"] is False
    assert len([e for e in events.of_type("space.updated") if e.space_id == space_id]) == 2  # nothing published

    clipping = api.patch(f"/v1/spaces/{space_id}", {"clipping": False}, token=host.token)
    assert clipping.status == 200 and clipping.body["clipping"] is False
    last = [e.data for e in events.of_type("space.updated") if e.space_id == space_id][-1]
    assert last["clipping"] is False and last["recording"] is False
    other = make_person(api, "other")
    assert api.patch(f"/v1/spaces/{space_id}", {"clipping": True}, token=other.token).error_code == "not_host"
    assert space(api, space_id, host.token)["clipping"] is False


def test_a_space_going_live_at_once_announces_its_recording(api, events):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Now", "recording": False}, token=host.token).body["id"]
    went_live = [e.data for e in events.of_type("space.updated") if e.space_id == space_id and "state" in e.data]
    assert went_live and went_live[-1]["recording"] is False


# -- replay ----------------------------------------------------------------------------------


def test_an_ended_recorded_space_can_be_replayed_through_the_cdn(api, settings, clock):
    host = make_host(api, "host")
    ended = ended_space(api, host)
    space_id = ended["id"]
    listener = make_person(api, "listener")  # not there live: a free space's replay is for anyone
    reply = replay(api, space_id, listener)
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["url"].startswith(cdn_url(settings, hls.replay_playlist_key(space_id)) + "?")
    assert body["query"] and set(body["cookies"]) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    ended_at = datetime.fromisoformat(ended["ended_at"])
    assert datetime.fromisoformat(body["available_until"]) == ended_at + timedelta(days=30)
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(seconds=settings.replay_access_seconds)
    segment = cdn_url(settings, hls.segment_key(space_id, 0))
    assert cdn_allows(settings, clock, body["url"])
    assert cdn_allows(settings, clock, segment, query=body["query"]) and cdn_allows(settings, clock, segment, cookies=body["cookies"])
    other = ended_space(api, make_host(api, "other_host"))["id"]
    assert not cdn_allows(settings, clock, cdn_url(settings, hls.replay_playlist_key(other)), query=body["query"])
    assert space(api, space_id, listener.token)["has_replay"] is True


def test_a_replay_access_ends_with_the_recording(api, settings, clock):
    host = make_host(api, "host")
    ended = ended_space(api, host)
    clock.advance(days=30, hours=-1)
    body = replay(api, ended["id"], host).body
    assert body["expires_at"] == body["available_until"]  # not the usual 4 hours: the recording goes first


def test_a_live_space_has_no_replay_yet(api):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Live"}, token=host.token).body["id"]
    put(hls.replay_playlist_key(space_id), "#EXTM3U\n")
    reply = replay(api, space_id, host)
    assert reply.status == 409 and reply.error_code == "no_replay_yet"


def test_a_space_that_did_not_record_has_no_replay(api):
    host = make_host(api, "host")
    ended = ended_space(api, host, recording=False)  # even if something was written
    reply = replay(api, ended["id"], host)
    assert reply.status == 404 and reply.error_code == "replay_not_found"
    assert space(api, ended["id"], host.token)["has_replay"] is False


def test_a_replay_being_finished_is_a_retryable_503_then_404_if_it_never_comes(api, clock):
    host = make_host(api, "host")
    ended = ended_space(api, host, with_replay=False)
    clock.advance(seconds=30)
    reply = replay(api, ended["id"], host)
    assert reply.status == 503 and reply.error_code == "replay_processing" and reply.headers.get("Retry-After") == "5"
    clock.advance(minutes=5)
    reply = replay(api, ended["id"], host)
    assert reply.status == 404 and reply.error_code == "replay_not_found"


def test_a_replay_is_kept_30_days(api, clock):
    host = make_host(api, "host")
    ended = ended_space(api, host)
    clock.advance(days=29)
    assert replay(api, ended["id"], host).status == 200
    clock.advance(days=2)
    reply = replay(api, ended["id"], host)
    assert reply.status == 404 and reply.error_code == "replay_not_found"
    assert space(api, ended["id"], host.token)["has_replay"] is False


def test_someone_banned_from_the_space_cannot_replay_it(api):
    room = open_room(api)
    host = Person(room.host.id, room.host.token)
    end(api, host, room.space_id)
    reply = replay(api, room.space_id, room.banned)
    assert reply.status == 403 and reply.error_code == "banned"
    assert replay(api, room.space_id, room.listener).status == 200


def test_a_ticketed_replay_is_for_its_ticket_holders(shop, stripe_standin, clock, media_bucket):  # noqa: F811
    api = shop
    host = onboarded_host(api, stripe_standin)
    space_id = ticketed_space(api, host, clock, max_tickets=5)
    holder, other = make_person(api, "holder"), make_person(api, "other")
    pay(api, stripe_standin, holder, space_id)
    assert api.post(f"/v1/spaces/{space_id}/start", token=host.token).status == 200
    end(api, host, space_id)
    refused = replay(api, space_id, other)
    assert refused.status == 403 and refused.error_code == "ticket_required"
    assert replay(api, space_id, holder).status == 200
    assert replay(api, space_id, host).status == 200


def test_ended_spaces_show_which_have_a_replay(api):
    host = make_host(api, "host")
    recorded = ended_space(api, host)["id"]
    unrecorded = ended_space(api, host, recording=False)["id"]
    reply = api.get(f"/v1/spaces?state=ended&creator_ids={host.id}", token=host.token)
    assert reply.status == 200, reply.body
    assert {s["id"]: s["has_replay"] for s in reply.body["spaces"]} == {recorded: True, unrecorded: False}


# -- deleting a recording -----------------------------------------------------------------------


def test_the_host_deletes_the_recording_but_not_the_clips(api):
    host = make_host(api, "host")
    space_id = ended_space(api, host)["id"]
    clip = hls.clip_key(space_id, "01CLIPKEPT")
    put(clip, b"m4a")
    other = make_person(api, "other")
    refused = api.delete(f"/v1/spaces/{space_id}/recording", token=other.token)
    assert refused.status == 403 and refused.error_code == "not_host"
    assert keys_under(hls.hls_prefix(space_id))

    deleted = api.delete(f"/v1/spaces/{space_id}/recording", token=host.token)
    assert deleted.status == 200 and deleted.body == {"ok": True}
    assert keys_under(hls.hls_prefix(space_id)) == [] and keys_under(hls.space_prefix(space_id)) == [clip]
    assert space(api, space_id, host.token)["has_replay"] is False
    reply = replay(api, space_id, host)
    assert reply.status == 404 and reply.error_code == "replay_not_found"
    assert api.delete(f"/v1/spaces/{space_id}/recording", token=host.token).status == 200  # again: done already


def test_a_live_spaces_recording_cannot_be_deleted(api):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Live"}, token=host.token).body["id"]
    put(hls.segment_key(space_id, 0), b"segment")
    reply = api.delete(f"/v1/spaces/{space_id}/recording", token=host.token)
    assert reply.status == 409 and reply.error_code == "invalid_state"
    assert keys_under(hls.hls_prefix(space_id)) == [hls.segment_key(space_id, 0)]


# -- without the audience tier -------------------------------------------------------------------


@pytest.mark.parametrize("settings", [NO_AUDIENCE_TIER], indirect=True)
def test_without_the_audience_tier_there_is_no_replay_nor_clip(api):
    host = make_host(api, "host")
    space_id = ended_space(api, host, with_replay=False)["id"]
    reply = replay(api, space_id, host)
    assert reply.status == 409 and reply.error_code == "hls_unavailable"
    live = api.post("/v1/spaces", {"title": "Live"}, token=host.token).body["id"]
    clip = api.post(f"/v1/spaces/{live}/clips", token=host.token)
    assert clip.status == 409 and clip.error_code == "hls_unavailable"
