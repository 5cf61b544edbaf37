"""``python -m media_worker`` with a media bucket: a real aiortc speaker's tone reaches S3 (moto's
server) as HLS segments that decode to it; /metrics counts them; the API's close call ends
the live playlist and leaves the replay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import boto3

from media_worker import ice
from parlor_contract.hls import hls_prefix, live_playlist_key, replay_playlist_key
from parlor_contract.worker import WorkerEnv
from tests.media_worker.hls_support import decode, parse
from tests.media_worker.peers import offer, tone_strength
from tests.media_worker.process_support import close, wait_until_ready, worker_setup
from tests.media_worker.worker_support import SPACE, token

BUCKET = "parlor-media-process"


def test_a_speakers_tone_is_streamed_to_s3_as_hls_until_the_close(tmp_path: Path):
    with worker_setup(tmp_path) as setup:
        s3 = boto3.client("s3", endpoint_url=setup.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        s3.create_bucket(Bucket=BUCKET)
        setup.env[WorkerEnv.MEDIA_BUCKET] = BUCKET
        proc = setup.start()
        try:
            wait_until_ready(setup, proc)
            url = f"http://127.0.0.1:{setup.port}"

            def live_segments() -> list:
                try:
                    body = s3.get_object(Bucket=BUCKET, Key=live_playlist_key(SPACE))["Body"].read()
                except s3.exceptions.NoSuchKey:
                    return []
                return parse(body).segments

            async def speak() -> dict:
                ice.gather_only_on("127.0.0.1")
                async with aiohttp.ClientSession() as session:
                    status, _, peer = await offer(session, url, token("speaker-1", "speaker"), tone=440)
                    assert status == 200
                    deadline = time.monotonic() + 20
                    while len(live_segments()) < 2:  # two whole segments while the speaker talks
                        assert time.monotonic() < deadline, "no HLS segments reached S3"
                        await asyncio.sleep(0.2)
                    async with session.get(f"{url}/metrics") as resp:
                        metrics = await resp.json()
                    await peer.close()
                    return metrics

            metrics = asyncio.run(speak())
            assert metrics["hls"]["segments_uploaded"] >= 2 and metrics["hls"]["segments_failed"] == 0
            assert metrics["hls"]["recording"] is True and metrics["hls"]["cpu_seconds"] > 0
            close(setup.port)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()

        live = parse(s3.get_object(Bucket=BUCKET, Key=live_playlist_key(SPACE))["Body"].read())
        replay = parse(s3.get_object(Bucket=BUCKET, Key=replay_playlist_key(SPACE))["Body"].read())
        assert live.is_endlist and replay.is_endlist and replay.playlist_type == "vod"
        assert [s.uri for s in replay.segments] == [s.uri for s in live.segments]  # (fewer than a live window)
        heard = 0
        for segment in live.segments:
            _, audio = decode(s3.get_object(Bucket=BUCKET, Key=hls_prefix(SPACE) + segment.uri)["Body"].read())
            heard += tone_strength(audio, 440) > 0.5
        assert heard >= 2, "the speaker's tone is in the segments"
