"""The room's audience stream (media_worker.hls): the listeners' mix, fed through the room's
audience tap, becomes ~2 s AAC segments in MPEG-TS, continuous and decodable, named by a
live playlist only once uploaded; S3 being slow or down never slows the tick; the end
leaves a replay (recorded) or nothing (not recorded)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import boto3
import numpy as np
import pytest

from media_worker.hls import AAC_FRAME_SAMPLES, SEGMENT_SAMPLES, HlsStream
from media_worker.mixer import FRAME_SAMPLES
from parlor_contract.hls import (
    LIVE_WINDOW_SEGMENTS,
    PLAYLIST_CACHE_CONTROL,
    PLAYLIST_CONTENT_TYPE,
    RETENTION_TAG,
    SEGMENT_CACHE_CONTROL,
    SEGMENT_CONTENT_TYPE,
    TARGET_DURATION,
    Retention,
    hls_prefix,
    live_playlist_key,
    replay_playlist_key,
)
from tests.media_worker.hls_support import MemoryS3, decode, parse, play, room_with_speaker
from tests.media_worker.peers import tone_strength
from tests.media_worker.worker_support import run_with_worker

SPACE = "01SPACEFORHLSTESTS000000000"
BUCKET = "parlor-media-test"
FRAMES_PER_SEGMENT = -(-SEGMENT_SAMPLES // AAC_FRAME_SAMPLES)  # 94 AAC frames: the first boundary past 2 s


class FakeClock:
    """Wall clock that advances 20 ms per tick fed (the ticks here run faster than real time)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += FRAME_SAMPLES / 48_000
        return self.now


def key_of(uri: str) -> str:
    return hls_prefix(SPACE) + uri


def number(uri: str) -> int:
    return int(uri.removesuffix(".ts"))


async def stream_a_tone(stream: HlsStream, plan: list[tuple[float, float]], pace_every: int = 5) -> None:
    """Run the stream's uploader while the room plays ``plan`` ([(seconds, Hz)]), then finish it."""
    uploader = asyncio.ensure_future(stream.run())
    room, speaker = await room_with_speaker(stream)
    pts = 0
    for seconds, frequency in plan:
        for _ in range(round(seconds / 0.1)):
            pts = play(room, speaker, 0.1, frequency, pts)
            if pace_every:
                await asyncio.sleep(0.001 * pace_every)  # lets the uploader take its turns
    await stream.finish(timeout=10)
    await uploader
    await room.close()


def test_a_tone_becomes_continuous_two_second_segments_that_decode_to_it():
    s3 = MemoryS3()
    stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100)
    asyncio.run(stream_a_tone(stream, [(4.0, 440), (4.5, 660)]))

    live = parse(s3.body(live_playlist_key(SPACE)))
    assert live.is_endlist and live.version == 3 and live.target_duration == TARGET_DURATION
    uris = [segment.uri for segment in live.segments]
    assert uris == [f"{n:08d}.ts" for n in range(5)]  # 8.5 s (+ the priming): four whole segments and the rest
    assert [segment.media_sequence for segment in live.segments] == list(range(5))
    assert not any(segment.discontinuity for segment in live.segments)
    offset, _ = decode(s3.body(key_of(live.segments[0].uri)))  # the muxer's constant delay
    assert offset >= 0
    previous_end = offset
    for index, segment in enumerate(live.segments):
        start, audio = decode(s3.body(key_of(segment.uri)))
        assert start == previous_end, f"segment {index} starts at {start}, the previous ended at {previous_end}"
        samples = len(audio)
        if index < 4:
            assert samples == FRAMES_PER_SEGMENT * AAC_FRAME_SAMPLES  # cut at the first AAC frame past 2 s
            assert segment.duration == pytest.approx(samples / 48_000, abs=1e-4)
            assert len(s3.body(key_of(segment.uri))) < 24_000  # AAC frames packed into PES packets, not one each
        else:  # the last one ends with the mix (the decoder pads its last frame)
            assert segment.duration == pytest.approx(0.5, abs=1e-4) and samples - 0.5 * 48_000 < AAC_FRAME_SAMPLES
        assert round(segment.duration) <= TARGET_DURATION
        previous_end = start + samples
        expected = 440 if previous_end - offset - AAC_FRAME_SAMPLES <= 4 * 48_000 else 660  # (the stream runs 1024 ahead)
        assert tone_strength(audio[AAC_FRAME_SAMPLES:], expected) > 0.5, f"segment {index} is not {expected} Hz"
        assert tone_strength(audio[AAC_FRAME_SAMPLES:], 1100 - expected) < 0.05
    # Program date-times are the wall clock of each segment's first sample: one segment's length apart.
    for earlier, later in zip(live.segments, live.segments[1:], strict=False):
        assert later.program_date_time - earlier.program_date_time == pytest.approx(
            timedelta(seconds=earlier.duration), abs=timedelta(milliseconds=2))

    replay = parse(s3.body(replay_playlist_key(SPACE)))
    assert replay.playlist_type == "vod" and replay.is_endlist and [s.uri for s in replay.segments] == uris


def test_the_live_playlist_slides_over_the_last_segments_and_the_replay_keeps_them_all():
    s3 = MemoryS3()
    stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100)
    # Silence is a mix too: the room ticks with nobody speaking.
    asyncio.run(stream_a_tone(stream, [(2.0 * (LIVE_WINDOW_SEGMENTS + 3), 440)], pace_every=1))
    live = parse(s3.body(live_playlist_key(SPACE)))
    assert len(live.segments) == LIVE_WINDOW_SEGMENTS
    assert live.media_sequence == number(live.segments[0].uri) == stream.counters.segments_uploaded - LIVE_WINDOW_SEGMENTS
    replay = parse(s3.body(replay_playlist_key(SPACE)))
    assert len(replay.segments) == stream.counters.segments_uploaded and replay.media_sequence == 0


# -- against S3 (moto) ---------------------------------------------------------------------


@pytest.fixture
def s3(aws) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    return client


def keys(s3: Any) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=hls_prefix(SPACE)).get("Contents", [])}


def tags(s3: Any, key: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_a_recorded_stream_in_s3_names_only_its_objects_with_their_types_tags_and_a_replay(s3):
    stream = HlsStream(SPACE, BUCKET, s3, recording=True)
    asyncio.run(stream_a_tone(stream, [(5.0, 440)]))

    live_key, replay_key = live_playlist_key(SPACE), replay_playlist_key(SPACE)
    live = parse(s3.get_object(Bucket=BUCKET, Key=live_key)["Body"].read())
    replay = parse(s3.get_object(Bucket=BUCKET, Key=replay_key)["Body"].read())
    segment_keys = {key_of(segment.uri) for segment in live.segments}
    assert live.is_endlist and len(segment_keys) == 3
    assert keys(s3) == segment_keys | {live_key, replay_key}  # every name exists, nothing unnamed
    assert replay.is_endlist and replay.playlist_type == "vod" and {key_of(s.uri) for s in replay.segments} == segment_keys
    for key in segment_keys:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (SEGMENT_CONTENT_TYPE, SEGMENT_CACHE_CONTROL)
        assert tags(s3, key) == {RETENTION_TAG: Retention.RECORDING}
    for key in (live_key, replay_key):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (PLAYLIST_CONTENT_TYPE, PLAYLIST_CACHE_CONTROL)
        assert tags(s3, key) == {RETENTION_TAG: Retention.RECORDING}


def test_a_stream_that_is_not_recorded_is_tagged_live_and_leaves_nothing_after_the_end(s3):
    async def scenario() -> set[str]:
        stream = HlsStream(SPACE, BUCKET, s3, recording=False)
        uploader = asyncio.ensure_future(stream.run())
        room, speaker = await room_with_speaker(stream)
        pts = 0
        for _ in range(25):
            pts = play(room, speaker, 0.1, 440, pts)
            await asyncio.sleep(0.005)
        for _ in range(200):  # until the first segment and the playlist are up
            if live_playlist_key(SPACE) in keys(s3):
                break
            await asyncio.sleep(0.01)
        during = keys(s3)
        for key in during:
            assert tags(s3, key) == {RETENTION_TAG: Retention.LIVE}
        await stream.finish(timeout=10)
        await uploader
        return during

    during = asyncio.run(scenario())
    assert live_playlist_key(SPACE) in during and any(k.endswith(".ts") for k in during)
    assert keys(s3) == set()


def test_a_worker_replacing_another_continues_after_its_segments_with_a_discontinuity():
    s3 = MemoryS3()
    first = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100)
    asyncio.run(stream_a_tone(first, [(4.0, 440)]))
    earlier = {k for k in s3.objects if k.endswith(".ts")}
    second = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100)
    asyncio.run(stream_a_tone(second, [(2.5, 660)]))
    live = parse(s3.body(live_playlist_key(SPACE)))
    assert min(number(s.uri) for s in live.segments) == len(earlier)  # none of the first worker's overwritten
    assert live.segments[0].discontinuity and live.media_sequence == len(earlier)
    assert earlier < set(s3.objects)


# -- S3 slow or failing --------------------------------------------------------------------


def test_a_segment_that_never_uploads_is_skipped_and_the_next_one_is_marked_discontinuous():
    s3 = MemoryS3(failing={key_of("00000001.ts")})
    stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100, put_attempts=3, backoff=0.01)
    asyncio.run(stream_a_tone(stream, [(7.0, 440)]))

    assert s3.attempts[key_of("00000001.ts")] == 3  # tried, retried, given up
    assert stream.counters.segments_failed == 1 and stream.counters.upload_retries == 2
    for key in (live_playlist_key(SPACE), replay_playlist_key(SPACE)):
        playlist = parse(s3.body(key))
        assert [s.uri for s in playlist.segments] == ["00000000.ts", "00000002.ts", "00000003.ts"]
        assert [s.discontinuity for s in playlist.segments] == [False, True, False]
        assert [s.media_sequence for s in playlist.segments] == [0, 1, 2]
        assert all(key_of(s.uri) in s3.objects for s in playlist.segments)


def test_an_upload_that_fails_then_succeeds_is_retried_and_listed_without_a_discontinuity():
    class FlakyS3(MemoryS3):
        def put_object(self, **call: Any) -> dict:
            if call["Key"].endswith("00000000.ts") and self.attempts.get(call["Key"], 0) < 2:
                self.attempts[call["Key"]] = self.attempts.get(call["Key"], 0) + 1
                raise ConnectionError("S3 hiccup")
            return super().put_object(**call)

    s3 = FlakyS3()
    stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100, put_attempts=4, backoff=0.01)
    asyncio.run(stream_a_tone(stream, [(3.0, 440)]))
    live = parse(s3.body(live_playlist_key(SPACE)))
    assert [s.uri for s in live.segments] == ["00000000.ts", "00000001.ts"] and not any(s.discontinuity for s in live.segments)
    assert stream.counters.upload_retries == 2 and stream.counters.segments_failed == 0


def test_a_stalled_s3_neither_slows_the_tick_nor_gets_a_segment_listed_before_it_is_uploaded():
    s3 = MemoryS3()
    s3.stalled.set()

    class TickTimes:
        """The room's tap: when each tick came, then on to the stream."""

        def __init__(self, stream: HlsStream) -> None:
            self.stream, self.at = stream, []

        def feed(self, samples: np.ndarray, pts: int) -> None:
            self.at.append(time.monotonic())
            self.stream.feed(samples, pts)

    async def scenario() -> tuple[TickTimes, int, float]:
        stream = HlsStream(SPACE, BUCKET, s3, put_timeout=0.3, put_attempts=3, backoff=0.05, queue_segments=1)
        tap = TickTimes(stream)
        uploader = asyncio.ensure_future(stream.run())
        room, speaker = await room_with_speaker(tap)
        stop = asyncio.Event()
        mixing = asyncio.ensure_future(room.run(stop))
        started = time.monotonic()
        while time.monotonic() - started < 4.5:  # two segments cut while S3 hangs
            speaker.frames.push(np.zeros(FRAME_SAMPLES, dtype=np.int32))
            await asyncio.sleep(0.02)
            assert live_playlist_key(SPACE) not in s3.objects
        elapsed = time.monotonic() - started
        stop.set()
        await mixing
        packets = room.counters.packets_out
        assert stream.counters.upload_retries >= 2 and stream.counters.segments_uploaded == 0
        s3.released.set()  # S3 answers again: what is still queued goes up at the end
        await stream.finish(timeout=10)
        await uploader
        await room.close()
        return tap, packets, elapsed

    tap, packets, elapsed = asyncio.run(scenario())
    expected = elapsed / 0.02
    assert packets >= 0.95 * expected, f"{packets} packets to the listener in {elapsed:.2f} s"
    gaps = np.diff(tap.at)
    assert gaps.max() < 0.06 and len(tap.at) >= 0.95 * expected
    live = parse(s3.body(live_playlist_key(SPACE)))
    assert all(key_of(s.uri) in s3.objects for s in live.segments)


def test_a_full_upload_queue_skips_segments_and_marks_the_gap(monkeypatch):
    s3 = MemoryS3()
    stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=1)
    asyncio.run(stream_a_tone(stream, [(9.0, 440)], pace_every=0))  # the uploader gets no turn while it plays
    assert stream.counters.segments_skipped >= 2
    live = parse(s3.body(live_playlist_key(SPACE)))
    assert len(live.segments) == stream.counters.segments_uploaded
    for earlier, later in zip(live.segments, live.segments[1:], strict=False):
        assert later.discontinuity == (number(later.uri) != number(earlier.uri) + 1)
    assert any(s.discontinuity for s in live.segments)


def test_the_end_is_bounded_when_s3_hangs():
    s3 = MemoryS3()

    async def scenario() -> float:
        stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), put_timeout=5, queue_segments=100)
        uploader = asyncio.ensure_future(stream.run())
        room, speaker = await room_with_speaker(stream)
        play(room, speaker, 1.0, 440, 0)
        s3.stalled.set()
        started = time.monotonic()
        await stream.finish(timeout=0.5)
        took = time.monotonic() - started
        uploader.cancel()
        s3.released.set()
        await room.close()
        return took

    assert asyncio.run(scenario()) < 1.0
    assert live_playlist_key(SPACE) not in s3.objects


def test_a_playlist_names_segments_relative_to_itself():
    s3 = MemoryS3()
    stream = HlsStream(SPACE, BUCKET, s3, wall_clock=FakeClock(), queue_segments=100)
    asyncio.run(stream_a_tone(stream, [(2.5, 440)]))
    text = s3.body(live_playlist_key(SPACE)).decode()
    assert re.findall(r"^[^#].*$", text, flags=re.M) == ["00000000.ts", "00000001.ts"]


def test_a_worker_without_a_media_bucket_streams_no_hls():
    async def scenario(url: str, worker: Any, session: Any) -> dict:
        async with session.get(f"{url}/metrics") as resp:
            return await resp.json()

    metrics = run_with_worker(scenario)
    assert metrics["hls"] is None
    s3 = MemoryS3()
    with_bucket = run_with_worker(scenario, s3=s3, media_bucket=BUCKET, recording=False)
    assert with_bucket["hls"]["recording"] is False and with_bucket["hls"]["segments_uploaded"] == 0
    assert s3.objects == {}  # stopped before its first segment, a stream that does not record leaves nothing
