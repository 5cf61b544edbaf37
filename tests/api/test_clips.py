"""Clips: the last 30 s of a live space (for its participants) or of a recording (for whoever
may replay it), remuxed from the room's real HLS segments into an M4A whose signed URL opens
that clip only."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import boto3
import pytest

from parlor_contract import hls
from tests.api.audience_support import (
    cdn_allows,
    cdn_url,
    decoded,
    keys_under,
    level_near,
    media_bucket,  # noqa: F401 - a fixture
    peak_hz,
    put,
    put_stream,
    read,
    tone_segments,
)
from tests.api.rooms_support import Person, make_host, make_person
from tests.support import Api, Reply

EARLY_HZ, LATE_HZ = 220.0, 440.0


@pytest.fixture(scope="module")
def segments() -> list[bytes]:
    """40 s of a room's stream: 10 s of a low tone, then 30 s of the clip's tone."""
    return tone_segments((10.0, EARLY_HZ), (30.0, LATE_HZ))


@pytest.fixture(autouse=True)
def _bucket(media_bucket: str) -> None:  # noqa: F811
    """Every test here leaves the media bucket empty."""


def live_space(api: Api, **fields) -> tuple[Person, str]:
    host = make_host(api, "host")
    created = api.post("/v1/spaces", {"title": "Clip me", **fields}, token=host.token)
    assert created.status == 201, created.body
    return host, created.body["id"]


def listener_in(api: Api, space_id: str) -> Person:
    listener = make_person(api, "listener")
    assert api.post(f"/v1/spaces/{space_id}/join", token=listener.token).status == 200
    return listener


def clip(api: Api, space_id: str, person: Person) -> Reply:
    return api.post(f"/v1/spaces/{space_id}/clips", token=person.token)


def assert_is_the_last_30_seconds(data: bytes) -> None:
    samples, rate, codec = decoded(data)
    assert codec == "aac" and rate == hls.SAMPLE_RATE
    assert abs(len(samples) / rate - hls.CLIP_SECONDS) <= 0.1
    assert abs(peak_hz(samples, rate) - LATE_HZ) < 1.0
    assert level_near(samples, rate, EARLY_HZ) < 0.02 * level_near(samples, rate, LATE_HZ)  # none of the start


def test_a_participant_clips_the_last_30_seconds_of_a_live_space(api, settings, clock, segments):
    host, space_id = live_space(api)
    listener = listener_in(api, space_id)
    put_stream(space_id, segments, first_sequence=3)
    reply = clip(api, space_id, listener)
    assert reply.status == 201, reply.body
    body = reply.body
    key = hls.clip_key(space_id, body["id"])
    assert body["space_id"] == space_id and body["url"].startswith(cdn_url(settings, key) + "?")
    assert abs(body["seconds"] - hls.CLIP_SECONDS) <= 0.1
    assert datetime.fromisoformat(body["created_at"]) == clock.now()
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(days=hls.RECORDING_DAYS)
    stored = boto3.client("s3").head_object(Bucket=settings.media_bucket, Key=key)
    assert stored["ContentType"] == hls.CLIP_CONTENT_TYPE
    assert_is_the_last_30_seconds(read(key))

    # Its URL opens that clip, and nothing else: not the stream, not another clip.
    query = urlsplit(body["url"]).query
    assert cdn_allows(settings, clock, body["url"])
    assert not cdn_allows(settings, clock, cdn_url(settings, hls.live_playlist_key(space_id)), query=query)
    assert not cdn_allows(settings, clock, cdn_url(settings, hls.clip_key(space_id, "01OTHERCLIP")), query=query)
    assert not cdn_allows(settings, clock, cdn_url(settings, key))  # unsigned


def test_someone_not_in_the_space_cannot_clip_it(api, segments):
    host, space_id = live_space(api)
    put_stream(space_id, segments)
    outsider = make_person(api, "outsider")
    reply = clip(api, space_id, outsider)
    assert reply.status == 409 and reply.error_code == "not_in_space"
    listener = listener_in(api, space_id)
    assert api.post(f"/v1/spaces/{space_id}/leave", token=listener.token).status == 200
    assert clip(api, space_id, listener).error_code == "not_in_space"
    assert keys_under(hls.space_prefix(space_id) + "clips/") == []


def test_no_clips_when_the_host_turned_clipping_off(api, segments):
    host, space_id = live_space(api, clipping=False)
    put_stream(space_id, segments)
    reply = clip(api, space_id, host)
    assert reply.status == 403 and reply.error_code == "clipping_disabled"
    assert api.patch(f"/v1/spaces/{space_id}", {"clipping": True}, token=host.token).status == 200
    assert clip(api, space_id, host).status == 201


@pytest.mark.parametrize("stream", ["no playlist", "empty playlist", "segments missing"])
def test_nothing_to_clip_before_the_stream_has_audio(api, stream):
    host, space_id = live_space(api)
    if stream == "empty playlist":
        put(hls.live_playlist_key(space_id), "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n")
    elif stream == "segments missing":  # the playlist names segments the bucket does not hold (yet)
        put(hls.live_playlist_key(space_id), "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n00000000.ts\n")
    reply = clip(api, space_id, host)
    assert reply.status == 409 and reply.error_code == "nothing_to_clip", reply.body
    assert keys_under(hls.space_prefix(space_id) + "clips/") == []


def test_a_recording_can_be_clipped_after_the_end(api, settings, clock, segments):
    host, space_id = live_space(api)
    assert api.post(f"/v1/spaces/{space_id}/end", token=host.token).status == 200
    put_stream(space_id, segments, first_sequence=0, playlist=hls.REPLAY_PLAYLIST)
    fan = make_person(api, "fan")  # never there live: the replay is anyone's
    reply = clip(api, space_id, fan)
    assert reply.status == 201, reply.body
    assert_is_the_last_30_seconds(read(hls.clip_key(space_id, reply.body["id"])))
    assert cdn_allows(settings, clock, reply.body["url"])


def test_a_space_without_a_recording_has_nothing_to_clip_after_the_end(api, segments):
    host, space_id = live_space(api, recording=False)
    assert api.post(f"/v1/spaces/{space_id}/end", token=host.token).status == 200
    put_stream(space_id, segments, playlist=hls.REPLAY_PLAYLIST)
    reply = clip(api, space_id, host)
    assert reply.status == 404 and reply.error_code == "replay_not_found"


def test_a_scheduled_space_has_nothing_to_clip(api, clock):
    host = make_host(api, "host")
    start = (clock.now() + timedelta(hours=1)).isoformat()
    space_id = api.post("/v1/spaces", {"title": "Later", "scheduled_start": start}, token=host.token).body["id"]
    reply = clip(api, space_id, host)
    assert reply.status == 409 and reply.error_code == "invalid_state"
