"""The audience tier over the local stack as real processes: a speaker's tone through the
room's worker, its HLS stream in moto's S3, played through the local CloudFront stand-in with
the signed access join gives — by the listener beyond the WebRTC cap — then the clip, the end
(ENDLIST), the replay, and a space that does not record leaving nothing.

Its own stack, with a WebRTC cap of one listener: the session's stack keeps the default."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Iterator

import aiohttp
import boto3
import pytest
import requests

from chalicelib.clock import ManualClock
from chalicelib.gateways.cdn import CdnSigner
from local.stack import Stack
from media_worker import ice
from parlor_contract import hls
from tests.e2e.conftest import running_stack
from tests.e2e.http import Http, join, live_space
from tests.hls_client import HlsClient, Refused, decode_file
from tests.media_worker.peers import Peer, hears, offer_at, tone_strength, until
from tests.waiting import wait_for

TONE = 440


@pytest.fixture(scope="module")
def capped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(tmp_path_factory, "hls", PARLOR_WEBRTC_LISTENER_CAP="1", PARLOR_MEDIA_WARM_POOL="0")


class Speaking:
    """A speaker's aiortc peer sending a tone, on its own event loop thread (the test's HTTP
    and HLS client are synchronous, as a phone's player is to the test)."""

    def __init__(self, offer_url: str, token: str, frequency: float):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.peer: Peer = self._run(self._start(offer_url, token, frequency))

    def _run(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    async def _start(self, offer_url: str, token: str, frequency: float) -> Peer:
        ice.gather_only_on("127.0.0.1")
        self._session = aiohttp.ClientSession()
        status, body, peer = await offer_at(self._session, offer_url, token, tone=frequency)
        assert status == 200, body
        return peer

    def listen(self, offer_url: str, token: str) -> Peer:
        async def offer() -> Peer:
            status, body, peer = await offer_at(self._session, offer_url, token)
            assert status == 200, body
            await until(lambda: hears(peer.recent(1.0), TONE), timeout=20, message="the WebRTC listener never heard the tone")
            return peer
        return self._run(offer())

    def stop(self) -> None:
        async def close() -> None:
            await self.peer.close()
            await self._session.close()
        self._run(close())
        self._loop.call_soon_threadsafe(self._loop.stop)


def _s3(stack: Stack):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{stack.ports.moto}", region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _keys(stack: Stack, prefix: str) -> list[str]:
    listed = _s3(stack).list_objects_v2(Bucket=stack.env["PARLOR_MEDIA_BUCKET"], Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def _signer(stack: Stack, clock: ManualClock) -> CdnSigner:
    return CdnSigner(stack.env["PARLOR_CDN_URL"], stack.env["PARLOR_CDN_KEY_PAIR_ID"], stack.env["PARLOR_CDN_PRIVATE_KEY"], clock)


def _started(player: HlsClient) -> bool:
    """The stream has its first segment (before it, the playlist is not there yet: 404)."""
    try:
        return bool(player.poll())
    except Refused as refused:
        if refused.status != 404:
            raise
        return False


def _hears_throughout(samples, frequency: float, seconds: float, window: float = 5.0) -> list[float]:  # type: ignore[no-untyped-def]
    """The tone's strength in each ``window`` of the audio: all of them should carry it."""
    step = int(window * 48_000)
    return [round(tone_strength(samples[i:i + step], frequency), 2) for i in range(0, int(seconds * 48_000) - step + 1, step)]


def test_beyond_the_cap_a_listener_hears_the_room_through_hls_then_clips_it_and_replays_it(capped_stack: Stack) -> None:
    stack = capped_stack
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    space_id, (host, first, second) = live_space(http, "Audience tier", ("hls_host", "hls_first", "hls_second"))
    started = time.monotonic()
    joined_host = join(http, space_id, host)
    assert joined_host["transport"] == "webrtc" and joined_host["hls"] is None
    speaking = Speaking(joined_host["media"]["offer_url"], host["token"], TONE)
    try:
        # The first listener takes the one WebRTC seat and hears the tone there.
        joined_first = join(http, space_id, first)
        assert joined_first["transport"] == "webrtc"
        speaking.listen(joined_first["media"]["offer_url"], first["token"])
        # The second is beyond the cap: HLS, signed for this space's stream.
        joined_second = join(http, space_id, second)
        assert joined_second["transport"] == "hls" and joined_second["media"] is None, joined_second
        access = joined_second["hls"]
        assert access["url"].startswith(stack.env["PARLOR_CDN_URL"] + "/" + hls.live_playlist_key(space_id))
        space = http.call("GET", f"/v1/spaces/{space_id}", token=host["token"])[1]
        assert (space["webrtc_listener_count"], space["hls_listener_count"], space["recording"]) == (1, 1, True)
        # Its offer would take a WebRTC seat it does not have.
        status, body = http.call("POST", f"/v1/spaces/{space_id}/media/offer", {"sdp": "v=0", "type": "offer"},
                                 token=second["token"])
        assert (status, body["error"]["code"]) == (409, "listening_on_hls")

        player = HlsClient(access["url"], access["query"])
        wait_for(lambda: _started(player), 20, "the HLS stream has no segment")
        player.follow(seconds=8)
        assert hears(player.audio(last_seconds=4.0), TONE), "the HLS listener does not hear the tone"

        # The CDN refuses what CloudFront would: no signature, another space's, an expired one.
        cdn = stack.env["PARLOR_CDN_URL"]
        playlist_path = "/" + hls.live_playlist_key(space_id)
        assert requests.get(cdn + playlist_path, timeout=10).status_code == 403
        other = _signer(stack, ManualClock(datetime.now(UTC))).sign("x", hls.hls_prefix("another-space"), timedelta(minutes=5))
        assert requests.get(f"{cdn}{playlist_path}?{other.query}", timeout=10).status_code == 403
        expired = _signer(stack, ManualClock(datetime.now(UTC) - timedelta(hours=1))).sign(
            "x", hls.hls_prefix(space_id), timedelta(minutes=5))
        assert requests.get(f"{cdn}{playlist_path}?{expired.query}", timeout=10).status_code == 403
        fresh = _signer(stack, ManualClock(datetime.now(UTC))).sign("x", hls.hls_prefix(space_id), timedelta(minutes=5))
        assert requests.get(f"{cdn}{playlist_path}?{fresh.query}", timeout=10).status_code == 200

        # Enough of the room for a whole clip, then the first listener clips its last 30 s.
        player.follow(seconds=max(0.0, 36 - (time.monotonic() - started)))
        status, clip = http.call("POST", f"/v1/spaces/{space_id}/clips", token=first["token"])
        assert status == 201, clip
        seconds, samples = decode_file(requests.get(clip["url"], timeout=10).content)
        assert 29.5 <= seconds <= 30.5 and 29.5 <= clip["seconds"] <= 30.5, (seconds, clip)
        strengths = _hears_throughout(samples, TONE, seconds)
        assert min(strengths) > 0.5, strengths
    finally:
        speaking.stop()

    # The end: the live playlist closes (a player stops), the replay plays the whole room.
    status, ended = http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])
    assert status == 200, ended
    wait_for(lambda: player.poll() is not None and player.ended or None, 20, "the live playlist never got ENDLIST")
    assert player.gaps() == [], player.gaps()
    assert len(player.segments) >= 15
    replay = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(
        http.call("GET", f"/v1/spaces/{space_id}/replay", token=second["token"])), 20, "no replay")
    recording = HlsClient(replay["url"], replay["query"])
    recording.poll()
    assert recording.ended and recording.playlist().playlist_type == "vod"
    assert recording.gaps() == [], recording.gaps()
    duration = sum(s.duration for s in recording.segments)
    assert duration >= 30, duration
    assert hears(recording.audio()[48_000 * 10: 48_000 * 20], TONE)
    listed = http.call("GET", f"/v1/spaces?state=ended&creator_ids={host['id']}", token=second["token"])[1]["spaces"]
    assert [(s["id"], s["has_replay"]) for s in listed] == [(space_id, True)]


def test_a_space_that_does_not_record_leaves_nothing_after_the_end(capped_stack: Stack) -> None:
    stack = capped_stack
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    people = []
    for handle in ("norec_host", "norec_a", "norec_b"):
        status, body = http.call("POST", "/v1/accounts", {"handle": handle, "display_name": handle, "password": "e2e-password-1"})
        people.append({"id": body["user"]["id"], "token": body["token"]})
    host = people[0]
    for fan in people[1:]:
        http.call("PUT", f"/v1/me/following/{host['id']}", token=fan["token"])
    status, space = http.call("POST", "/v1/spaces", {"title": "Off the record", "recording": False}, token=host["token"])
    assert status == 201 and space["recording"] is False, space
    space_id = space["id"]
    joined = join(http, space_id, host)
    speaking = Speaking(joined["media"]["offer_url"], host["token"], TONE)
    try:
        listener = join(http, space_id, people[1])
        listener = http.call("POST", f"/v1/spaces/{space_id}/join", {"transport": "hls"}, token=people[2]["token"])[1]
        assert listener["transport"] == "hls"
        player = HlsClient(listener["hls"]["url"], listener["hls"]["query"])
        wait_for(lambda: _started(player), 20, "the HLS stream has no segment")
        player.follow(seconds=3)
        assert hears(player.audio(last_seconds=2.0), TONE)
        assert _keys(stack, hls.hls_prefix(space_id)), "the live stream is in the bucket while the space is live"
    finally:
        speaking.stop()
    assert http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])[0] == 200
    wait_for(lambda: not _keys(stack, hls.space_prefix(space_id)) or None, 20, "the stream was left in the bucket")
    with pytest.raises(Refused) as refused:
        player.poll()
    assert refused.value.status in (403, 404)  # S3 behind CloudFront answers 403 for a missing key without ListBucket
    status, body = http.call("GET", f"/v1/spaces/{space_id}/replay", token=people[1]["token"])
    assert (status, body["error"]["code"]) == (404, "replay_not_found")
