"""``python -m bench.media_start``: how long a host waits for audio when a space goes live,
with the warm pool (``PARLOR_MEDIA_WARM_POOL=2``) and without it (``0``: a cold worker).

For each setting, the local stack runs as real processes (``local.stack.Stack``, as ``make
run``); each trial times ``POST /v1/spaces`` itself (with the pool it claims a worker and waits
for its first heartbeat as the space's; without, it launches one) and, from its start: the first join that returns the worker
(the client retries ``503 media_starting`` every 50 ms, not after ``Retry-After``, so the
figure is the worker's and not the client's back-off), the answer to the host's offer,
and the host's first audio frame from the worker (a real aiortc peer on loopback). With
the pool, each trial starts once the pool has refilled (every slot idle again), the
steady state of a deployment; the refill time is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import boto3

from local.stack import Ports, Stack
from media_worker import ice
from tests.e2e.http import Http
from tests.media_worker.peers import offer_at, until

TABLE_PREFIX = "parlor-bench-start"


@dataclass
class Trial:
    created: float  # seconds POST /v1/spaces took (it claims the pooled worker, or launches one)
    joined: float  # seconds from POST /v1/spaces
    answered: float
    first_audio: float
    refill: float | None  # seconds the pool took to be full again before this trial


def _pool_full(dynamodb, size: int) -> bool:  # type: ignore[no-untyped-def]
    items = [dynamodb.get_item(TableName=f"{TABLE_PREFIX}-media_pool", Key={"slot": {"S": str(n)}},
                               ConsistentRead=True).get("Item") for n in range(size)]
    return all(item is not None and item["state"]["S"] == "idle" for item in items)


def _wait_for_pool(dynamodb, size: int, timeout: float = 120) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while not _pool_full(dynamodb, size):
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the warm pool did not fill")
        time.sleep(0.05)
    return time.perf_counter() - started


async def _first_audio(offer_url: str, token: str) -> tuple[float, float]:
    """Seconds until the offer's answer (relayed by the API), and until the first decoded audio frame."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        status, body, peer = await offer_at(session, offer_url, token, tone=440)
        assert status == 200, body
        answered = time.perf_counter() - started
        try:
            await until(lambda: bool(peer.arrivals), timeout=30, message="no audio reached the host")
        finally:
            await peer.close()
    return answered, time.perf_counter() - started


def run(pool_size: int, trials: int) -> list[Trial]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"PARLOR_TABLE_PREFIX": TABLE_PREFIX, "PARLOR_HOST_MIN_FOLLOWERS": "0",
                "PARLOR_MEDIA_WARM_POOL": str(pool_size)})
    ice.gather_only_on("127.0.0.1")
    results = []
    with tempfile.TemporaryDirectory() as logs, Stack(Ports.free(), env=env, log_dir=Path(logs)) as stack:
        http = Http(f"http://127.0.0.1:{stack.ports.api}")
        dynamodb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{stack.ports.moto}", region_name="us-east-1",
                                aws_access_key_id="local", aws_secret_access_key="local")
        status, body = http.call("POST", "/v1/accounts", {"handle": f"bench{pool_size}", "display_name": "Bench",
                                                          "password": "bench-password-1"})
        assert status == 201, body
        token = body["token"]
        for n in range(trials + 1):  # the first, untimed, warms the API up (its clients are made on first use)
            refill = _wait_for_pool(dynamodb, pool_size) if pool_size else None
            refill = refill if n > 1 else None  # the first waits are the initial fill, not a refill
            started = time.perf_counter()
            status, space = http.call("POST", "/v1/spaces", {"title": "Bench"}, token=token)
            assert status == 201, space
            created = time.perf_counter() - started
            while True:
                status, joined = http.call("POST", f"/v1/spaces/{space['id']}/join", token=token)
                if status == 200:
                    break
                assert status == 503, joined
                time.sleep(0.05)
            joined_after = time.perf_counter() - started
            answered, first_audio = asyncio.run(_first_audio(joined["media"]["offer_url"], token))
            offered_at = joined_after
            if n:
                results.append(Trial(created, joined_after, offered_at + answered, offered_at + first_audio, refill))
            assert http.call("POST", f"/v1/spaces/{space['id']}/end", token=token)[0] == 200
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()
    trials = args.trials or (2 if args.quick else 5)
    medians = {}
    print(f"{'warm pool':>9} {'trials':>6} {'create ms':>9} {'join ms':>8} {'answer ms':>9} {'audio p50 ms':>12} {'min':>6} {'max':>6}"
          f" {'refill s':>8}", flush=True)  # medians but for min and max
    for pool_size in (2, 0):
        results = run(pool_size, trials)
        audio = [r.first_audio * 1000 for r in results]
        medians[pool_size] = statistics.median(audio)
        refills = [r.refill for r in results if r.refill is not None]
        print(f"{pool_size:>9} {len(results):>6} {statistics.median(r.created for r in results) * 1000:>9.0f}"
              f" {statistics.median(r.joined for r in results) * 1000:>8.0f}"
              f" {statistics.median(r.answered for r in results) * 1000:>9.0f} {medians[pool_size]:>12.0f}"
              f" {min(audio):>6.0f} {max(audio):>6.0f} {statistics.median(refills) if refills else float('nan'):>8.1f}", flush=True)
    print(f"POST /v1/spaces -> host's first audio: {medians[0] / medians[2]:.1f}x faster with the warm pool", flush=True)


if __name__ == "__main__":
    main()
