"""A warm-pool worker as a real process: it comes up idle in its slot, is claimed by the API's
pool for a space, and serves that space on the port it already held; a claim whose call is
lost still reaches it through its slot's record."""

from __future__ import annotations

import os
from typing import Iterator

import pytest
import requests
from moto.server import ThreadedMotoServer

from chalicelib.clock import SystemClock
from chalicelib.gateways.launchers import LocalProcessLauncher, worker_env
from chalicelib.gateways.media import WorkerMediaGateway
from chalicelib.gateways.media_pool import WarmPool
from chalicelib.models.media_workers import MediaPoolSlotModel, MediaWorkerModel
from local.stack import free_media_base, free_port
from parlor_contract.worker import PoolState, WorkerEnv, WorkerState
from tests.local.test_media_launcher import health, wait_for
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET


@pytest.fixture
def launcher(container) -> Iterator[LocalProcessLauncher]:
    """Workers that write to the test's tables: a moto server in this process shares the
    in-process mock's backends, so the API's models and the children see the same items."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = worker_env({**os.environ, "AWS_ENDPOINT_URL": f"http://{host}:{port}"}, MediaWorkerModel.Meta.table_name,
                     PUBLIC_KEY, SECRET, "", MediaPoolSlotModel.Meta.table_name)
    env[WorkerEnv.HEARTBEAT_SECONDS] = "0.3"
    launched = LocalProcessLauncher(env, base_port=free_media_base(), stop_grace_seconds=0.5)
    try:
        yield launched
    finally:
        for handle in list(launched._children):  # noqa: SLF001 - stop whatever the test left running
            os.kill(int(handle), 9)
        server.stop()


def idle_slot(slot: str) -> MediaPoolSlotModel:
    def check() -> MediaPoolSlotModel | None:
        record = MediaPoolSlotModel.get(slot, consistent_read=True)
        return record if record.state == PoolState.IDLE else None
    return wait_for(check, 60, f"the worker of slot {slot} never came up idle")


def test_a_pooled_worker_is_idle_then_serves_the_space_that_claims_it_on_the_same_port(launcher):
    pool = WarmPool(launcher, SystemClock(), SECRET, size=1)
    gateway = WorkerMediaGateway(launcher, SystemClock(), SECRET, pool=pool)
    assert pool.refill() == 1
    slot = idle_slot("0")
    port = int(slot.url.rsplit(":", 1)[1])
    assert health(port) == {"status": "idle", "space_id": None, "slot": "0"}
    unknown = requests.get(f"{slot.url}/offer", timeout=5)  # not served until claimed
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"

    gateway.start("01SPACECLAIMED")
    record = MediaWorkerModel.get("01SPACECLAIMED", consistent_read=True)
    assert (record.state, record.url, record.handle) == (WorkerState.READY, slot.url, slot.handle)
    assert record.pid == int(slot.handle)
    assert health(port)["space_id"] == "01SPACECLAIMED"
    assert gateway.endpoint("01SPACECLAIMED").url == slot.url


def test_a_pooled_worker_learns_a_claim_from_its_record_when_the_call_is_lost(launcher):
    pool = WarmPool(launcher, SystemClock(), SECRET, size=1)
    pool.refill()
    slot = idle_slot("0")
    claimed = pool.claim("01SPACEBYRECORD")  # and no hand-over call
    assert claimed is not None
    # As the gateway does: the space's record names the worker before it learns its space.
    MediaWorkerModel(space_id="01SPACEBYRECORD", state=WorkerState.STARTING, worker_id=claimed.worker_id).save()
    port = int(slot.url.rsplit(":", 1)[1])
    wait_for(lambda: (health(port) or {}).get("space_id") == "01SPACEBYRECORD", 30, "the claim never reached the worker")

    def ready() -> MediaWorkerModel | None:  # its first heartbeat as the space's worker
        try:
            record = MediaWorkerModel.get("01SPACEBYRECORD", consistent_read=True)
        except MediaWorkerModel.DoesNotExist:
            return None
        return record if record.state == WorkerState.READY else None
    assert wait_for(ready, 30, "the claimed worker never heartbeat as the space's").url == slot.url


def test_a_pooled_worker_whose_slot_went_to_another_exits(launcher):
    pool = WarmPool(launcher, SystemClock(), SECRET, size=1)
    pool.refill()
    idle_slot("0")
    MediaPoolSlotModel(slot="0").update(actions=[MediaPoolSlotModel.worker_id.set("someone-else")])
    wait_for(lambda: not launcher.ports_in_use(), 30, "the evicted worker is still running")
