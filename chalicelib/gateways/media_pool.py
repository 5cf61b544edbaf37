"""The warm pool: a few started, idle media workers that a space claims as it goes live,
so its first join does not wait for a process (locally) or a Fargate task (on AWS) to start.

Each of ``size`` slots (``MediaPoolSlotModel``, keys ``"0"``..``"size-1"``) holds at most one
worker. Claiming is a conditional write on the slot (state idle, this worker id), so two
spaces never get one worker; refilling is a conditional write too, so two processes never
start two workers into one slot. The claimed worker learns its space from a signed call
(``POOL_CLAIM_PATH``), or from its slot's record at its next idle heartbeat if the call is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.clock import Clock, iso
from chalicelib.gateways.launchers import Launcher
from chalicelib.gateways.worker_calls import signed_post
from chalicelib.ids import new_id
from chalicelib.logs import logger
from chalicelib.models.media_workers import MediaPoolSlotModel
from parlor_contract.worker import POOL_CLAIM_PATH, PoolState


@dataclass(frozen=True)
class PooledWorker:
    slot: str
    worker_id: str
    handle: str
    url: str


class WarmPool:
    def __init__(self, launcher: Launcher, clock: Clock, service_secret: str, size: int,
                 dead_after: timedelta = timedelta(seconds=30), claim_timeout: float = 2.0):
        self._launcher = launcher
        self._clock = clock
        self._secret = service_secret
        self._size = size
        self._dead_after = dead_after
        self._claim_timeout = claim_timeout

    def claim(self, space_id: str) -> PooledWorker | None:
        """An idle, live worker of the pool, now the space's; None when the pool has none."""
        for slot in self._slots():
            record = self._get(slot)
            if (record is None or record.state != PoolState.IDLE or not record.url or not record.handle
                    or self._silent(record)):
                continue
            try:
                record.update(actions=[MediaPoolSlotModel.state.set(PoolState.CLAIMED),
                                       MediaPoolSlotModel.claimed_by.set(space_id)],
                              condition=(MediaPoolSlotModel.worker_id == record.worker_id)
                              & (MediaPoolSlotModel.state == PoolState.IDLE))
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue  # another space took it first
                raise
            logger.info("pooled media worker claimed", extra={"space_id": space_id, "slot": slot, "handle": record.handle})
            return PooledWorker(slot, record.worker_id, record.handle, record.url)
        return None

    def hand_over(self, worker: PooledWorker, space_id: str, recording: bool = True) -> bool:
        """Tell a claimed worker its space (and whether the space records its HLS stream).
        False (logged, and the worker stopped) if it does not take it: the caller launches another."""
        error = signed_post(worker.url, POOL_CLAIM_PATH,
                            {"space_id": space_id, "worker_id": worker.worker_id, "recording": recording},
                            self._secret, self._claim_timeout)
        if error is None:
            return True
        logger.warning("pooled media worker did not take its space", extra={
            "space_id": space_id, "handle": worker.handle, "error": error})
        self._launcher.terminate(worker.handle)
        return False

    def refill(self) -> int:
        """Start a worker into every slot that is empty, claimed, gone, or whose worker went
        silent; how many were started."""
        started = 0
        for slot in self._slots():
            record = self._get(slot)
            if record is not None and record.state in (PoolState.STARTING, PoolState.IDLE) and not self._silent(record):
                continue
            now = self._clock.now()
            fresh = MediaPoolSlotModel(slot=slot, worker_id=new_id(now), state=PoolState.STARTING, launched_at=iso(now),
                                       expires_at=now + timedelta(days=1))
            condition = (MediaPoolSlotModel.slot.does_not_exist() if record is None else
                         (MediaPoolSlotModel.worker_id == record.worker_id) & (MediaPoolSlotModel.state == record.state))
            try:
                fresh.save(condition=condition)
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue  # another process refilled it
                raise
            if record is not None and record.handle and record.state in (PoolState.STARTING, PoolState.IDLE):
                self._launcher.terminate(record.handle)  # silent: it no longer holds the slot
            handle = self._launcher.launch_pooled(slot, fresh.worker_id)
            fresh.update(actions=[MediaPoolSlotModel.handle.set(handle)])
            logger.info("pooled media worker launched", extra={"slot": slot, "handle": handle})
            started += 1
        return started

    def worker_exited(self, handle: str) -> bool:
        """If ``handle`` is an unclaimed pooled worker, free its slot (and start another if it
        had come up, so a worker that cannot start is not restarted in a loop). True if it was."""
        for slot in self._slots():
            record = self._get(slot)
            if record is None or record.handle != handle or record.state not in (PoolState.STARTING, PoolState.IDLE):
                continue
            had_come_up = record.heartbeat_at is not None
            try:
                record.update(actions=[MediaPoolSlotModel.state.set(PoolState.GONE)],
                              condition=(MediaPoolSlotModel.worker_id == record.worker_id)
                              & (MediaPoolSlotModel.state == record.state))
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    return False  # claimed meanwhile: it is a space's worker now
                raise
            logger.warning("pooled media worker gone", extra={"slot": slot, "handle": handle})
            if had_come_up:
                self.refill()
            return True
        return False

    def _slots(self) -> list[str]:
        return [str(n) for n in range(self._size)]

    def _get(self, slot: str) -> MediaPoolSlotModel | None:
        try:
            return MediaPoolSlotModel.get(slot, consistent_read=True)
        except DoesNotExist:
            return None

    def _silent(self, record: MediaPoolSlotModel) -> bool:
        seen = record.last_seen()
        return seen is None or self._clock.now() - seen > self._dead_after
