"""The warm pool: started, idle workers that a space claims by a conditional write as it goes
live (never one worker for two spaces), handed their space by a signed call, refilled; a
claim from an empty pool falls back to a cold launch."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from chalicelib.clock import iso
from chalicelib.gateways.media import WorkerMediaGateway
from chalicelib.gateways.media_pool import WarmPool
from chalicelib.models.media_workers import MediaPoolSlotModel, MediaWorkerModel
from parlor_contract import signatures
from parlor_contract.worker import POOL_CLAIM_PATH, PoolState, WorkerState
from tests.api.test_media_gateway import SECRET, RecordingLauncher, heartbeat


class _ClaimRecorder(BaseHTTPRequestHandler):
    claims: list[tuple[dict, str | None]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).claims.append((json.loads(body) if self.path == POOL_CLAIM_PATH else {}, self.headers.get(signatures.HEADER)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def pooled_url() -> Iterator[str]:
    _ClaimRecorder.claims = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClaimRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def pool(container, clock, launcher) -> WarmPool:
    return WarmPool(launcher, clock, SECRET, size=2)


@pytest.fixture
def gateway(pool, clock, launcher, events) -> WorkerMediaGateway:
    return WorkerMediaGateway(launcher, clock, SECRET, pool=pool, events=events, ready_wait=0)


def idle(slot: str, url: str, at) -> None:
    """What a pooled worker's heartbeat writes once it is bound and ready."""
    MediaPoolSlotModel(slot=slot).update(actions=[MediaPoolSlotModel.state.set(PoolState.IDLE), MediaPoolSlotModel.url.set(url),
                                                  MediaPoolSlotModel.heartbeat_at.set(iso(at))])


def test_refill_starts_one_worker_per_slot_once(pool, launcher):
    assert pool.refill() == 2
    assert pool.refill() == 0
    assert [slot for slot, _ in launcher.pooled] == ["0", "1"]
    assert {MediaPoolSlotModel.get(s).handle for s in ("0", "1")} == {"pooled-1", "pooled-2"}


def test_a_space_going_live_claims_an_idle_worker_hands_it_the_space_and_the_pool_refills(gateway, pool, launcher, clock,
                                                                                          pooled_url):
    pool.refill()
    idle("0", pooled_url, clock.now())
    gateway.start("space-1")
    assert launcher.launched == []  # no cold start
    record = MediaWorkerModel.get("space-1")
    assert (record.handle, record.url, record.state) == ("pooled-1", pooled_url, WorkerState.STARTING)
    [(claim, header)] = _ClaimRecorder.claims
    slot = MediaPoolSlotModel.get("0")
    assert claim == {"space_id": "space-1", "worker_id": launcher.pooled[0][1], "recording": True}
    assert signatures.verify_request(signatures.space_key(SECRET, "space-1"), "POST", "/claim", json.dumps(claim).encode(),
                                     header)
    assert [s for s, _ in launcher.pooled] == ["0", "1", "0"] and slot.state == PoolState.STARTING  # refilled
    heartbeat("space-1", pooled_url, clock.now())  # the claimed worker's first heartbeat as the space's
    assert gateway.endpoint("space-1").url == pooled_url


def test_a_claimed_worker_is_told_that_its_space_does_not_record(gateway, pool, launcher, clock, pooled_url):
    pool.refill()
    idle("0", pooled_url, clock.now())
    gateway.start("space-1", recording=False)
    [(claim, _)] = _ClaimRecorder.claims
    assert claim["recording"] is False and launcher.launched == []


def test_concurrent_claims_never_give_one_pooled_worker_to_two_spaces(pool, clock, pooled_url):
    pool.refill()
    idle("0", pooled_url, clock.now())
    idle("1", pooled_url, clock.now())
    spaces = [f"space-{n}" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as threads:
        claims = list(threads.map(pool.claim, spaces))
    taken = [c for c in claims if c is not None]
    assert len(taken) == 2 and len({c.worker_id for c in taken}) == 2
    owners = {MediaPoolSlotModel.get(c.slot).claimed_by for c in taken}
    assert owners == {space for space, c in zip(spaces, claims, strict=True) if c is not None}


def test_a_claim_from_an_empty_pool_falls_back_to_a_cold_launch(gateway, pool, launcher):
    pool.refill()  # started, but none idle yet
    gateway.start("space-1")
    assert launcher.launched == ["space-1"] and MediaWorkerModel.get("space-1").handle == "handle-1"


def test_a_pool_whose_workers_all_fail_their_hand_over_falls_back_to_a_cold_launch(gateway, pool, launcher, clock):
    pool.refill()
    idle("0", "http://127.0.0.1:1", clock.now())
    gateway.start("space-1")
    record = MediaWorkerModel.get("space-1")
    assert launcher.launched == ["space-1"] and (record.handle, record.url) == ("handle-1", None)


def test_a_silent_pooled_worker_is_neither_claimed_nor_kept(gateway, pool, launcher, clock, pooled_url):
    pool.refill()
    idle("0", pooled_url, clock.now())
    clock.advance(seconds=31)
    gateway.start("space-1")
    assert launcher.launched == ["space-1"]
    assert "pooled-1" in launcher.terminated and MediaPoolSlotModel.get("0").handle not in ("pooled-1", None)


def test_a_pooled_worker_that_does_not_answer_its_claim_is_dropped_for_the_next(gateway, pool, launcher, clock, pooled_url):
    pool.refill()
    idle("0", "http://127.0.0.1:1", clock.now())
    idle("1", pooled_url, clock.now())
    gateway.start("space-1")
    assert launcher.launched == [] and MediaWorkerModel.get("space-1").handle == "pooled-2"
    assert launcher.terminated == ["pooled-1"]


def test_an_idle_pooled_worker_that_exits_frees_its_slot_for_a_new_one(gateway, pool, launcher, clock, pooled_url):
    pool.refill()
    idle("0", pooled_url, clock.now())
    gateway.worker_exited("pooled-1", -9, "killed by signal 9")
    assert [s for s, _ in launcher.pooled] == ["0", "1", "0"]
    gateway.worker_exited("pooled-2", 1, "exited with status 1")  # never came up: freed, not restarted in a loop
    assert MediaPoolSlotModel.get("1").state == PoolState.GONE and len(launcher.pooled) == 3


def test_a_claimed_worker_that_dies_is_replaced_like_any_spaces_worker(gateway, pool, launcher, clock, pooled_url, events):
    pool.refill()
    idle("0", pooled_url, clock.now())
    idle("1", pooled_url, clock.now())
    gateway.start("space-1")
    heartbeat("space-1", pooled_url, clock.now())
    gateway.worker_exited("pooled-1", -9, "killed by signal 9")
    record = MediaWorkerModel.get("space-1")
    assert record.handle == "pooled-2"  # the pool's other worker took over
    assert [e.space_id for e in events.of_type("media.restarted")] == ["space-1"]


def test_no_pool_means_every_start_is_cold(container, clock, launcher):
    gateway = WorkerMediaGateway(launcher, clock, SECRET)
    gateway.start("space-1")
    assert launcher.launched == ["space-1"] and launcher.pooled == []
    assert gateway.refill_pool() == 0


def test_a_pool_that_cannot_be_refilled_does_not_fail_the_space_going_live(gateway, pool, launcher):
    launcher.launch_pooled = lambda slot, worker_id: (_ for _ in ()).throw(RuntimeError("RunTask throttled"))
    gateway.start("space-1")  # the space gets its (cold) worker; the pool's schedule refills later
    assert launcher.launched == ["space-1"] and MediaWorkerModel.get("space-1").handle == "handle-1"
