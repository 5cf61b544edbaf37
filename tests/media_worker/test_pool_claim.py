"""A warm-pool worker learns from the API's signed claim whether its space records its HLS
stream; a claim that says it in another type than a boolean is refused."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

from media_worker.config import WorkerConfig
from media_worker.pool import PooledWorker
from parlor_contract import signatures
from parlor_contract.worker import POOL_CLAIM_PATH
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET


def claim_with(body: dict) -> tuple[int, PooledWorker]:
    async def scenario() -> tuple[int, PooledWorker]:
        config = WorkerConfig(pool_slot="0", pool_table="pool", pool_worker_id="w1", token_public_key=PUBLIC_KEY,
                              service_secret=SECRET, media_bucket="parlor-media")
        pooled = PooledWorker(config, dynamodb=None)
        runner = web.AppRunner(pooled.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        raw = json.dumps(body).encode()
        key = signatures.space_key(SECRET, body["space_id"])
        headers = {signatures.HEADER: signatures.sign_request(key, "POST", POOL_CLAIM_PATH, raw)}
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(f"http://127.0.0.1:{runner.addresses[0][1]}{POOL_CLAIM_PATH}", data=raw,
                                        headers=headers) as resp:
                    return resp.status, pooled
        finally:
            await runner.cleanup()

    return asyncio.run(scenario())


def test_a_claim_for_a_space_that_does_not_record_is_served_without_recording():
    status, pooled = claim_with({"space_id": "01SPACE", "worker_id": "w1", "recording": False})
    assert status == 200 and pooled.claimed.result() == "01SPACE" and pooled.recording is False


def test_a_claim_that_does_not_say_records_as_before():
    status, pooled = claim_with({"space_id": "01SPACE", "worker_id": "w1"})
    assert status == 200 and pooled.recording is True


def test_a_claim_whose_recording_is_not_a_boolean_is_refused():
    status, pooled = claim_with({"space_id": "01SPACE", "worker_id": "w1", "recording": "no"})
    assert status == 400 and not pooled.claimed.done()
