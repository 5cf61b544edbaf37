"""Launching and controlling the media worker of a live space.

The spaces service only sees ``MediaGateway``. ``WorkerMediaGateway`` implements it on
top of a ``Launcher`` (``launchers.py``: a subprocess per worker locally, a Fargate task on AWS),
the worker registry (``MediaWorkerModel``), which the worker keeps fresh with its
heartbeat, and an optional warm pool of started workers (``media_pool.WarmPool``).

A worker's death is noticed in seconds: locally the launcher waits on each child and
reports its exit; on AWS an ECS task-state event does (``chalicelib/api/media_tasks.py``).
Either way ``worker_exited`` marks the record ``gone`` and a live space gets a new worker
at once, its room told to re-offer (``media.restarted``). A worker silent for
``dead_after`` (the heartbeat, a back-up) or closing is replaced by the next join; a join
never gets the URL of a worker known dead, closing or silent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.clock import Clock, iso, millis
from chalicelib.errors import Conflict, Forbidden, Unavailable, ValidationFailed
from chalicelib.events import EventPublisher, RoomEvent
from chalicelib.gateways.launchers import Launcher
from chalicelib.gateways.worker_calls import WorkerUnreachable, relay_offer, signed_post
from chalicelib.ids import new_id
from chalicelib.logs import logger
from chalicelib.models.media_workers import MediaWorkerModel
from parlor_contract.media import CONTROL_PATH, ControlAction
from parlor_contract.worker import SPACE_ENDED, WorkerState

if TYPE_CHECKING:
    from chalicelib.gateways.media_pool import WarmPool

# The room event that tells everyone in a space to join again and re-offer: its worker changed.
MEDIA_RESTARTED = "media.restarted"


@dataclass(frozen=True)
class MediaEndpoint:
    url: str


class MediaGateway(Protocol):
    def start(self, space_id: str, recording: bool = True) -> None:
        """Start a worker for a space that just went live (idempotent). ``recording``: its
        audience's HLS stream is kept after the end (else deleted); a worker that replaces
        this one later writes the same way."""

    def endpoint(self, space_id: str) -> MediaEndpoint:
        """The worker's URL once it is ready; raises ``Unavailable`` while it starts."""

    def offer(self, space_id: str, grant: str, offer: dict[str, str]) -> dict[str, str]:
        """Relay a client's SDP offer with the API's grant; the worker's answer. Raises
        ``Unavailable`` while no worker serves the space, or the worker's refusal as a 4xx."""

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        """Tell the worker about a role change, mute, removal or close (a ``ControlAction``),
        stamped with when the API decided it. Best effort: True if the worker took the
        command, False (logged) otherwise."""

    def stop(self, space_id: str) -> None:
        """Stop the worker of a space that ended (idempotent)."""

    def worker_exited(self, handle: str, exit_code: int | None, reason: str) -> None:
        """The process or task ``handle`` is known to have exited (its launcher or ECS says so)."""

    def refill_pool(self) -> int:
        """Start workers into the empty slots of the warm pool; how many were started."""


class UnavailableMedia:
    """No launcher configured: spaces run, joins answer "media unavailable, retry"."""

    def start(self, space_id: str, recording: bool = True) -> None:
        return None

    def endpoint(self, space_id: str) -> MediaEndpoint:
        raise Unavailable("No media worker is configured.", code="media_unavailable", retry_after=5)

    def offer(self, space_id: str, grant: str, offer: dict[str, str]) -> dict[str, str]:
        raise Unavailable("No media worker is configured.", code="media_unavailable", retry_after=5)

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        return False

    def stop(self, space_id: str) -> None:
        return None

    def worker_exited(self, handle: str, exit_code: int | None, reason: str) -> None:
        return None

    def refill_pool(self) -> int:
        return 0


class WorkerMediaGateway:
    def __init__(self, launcher: Launcher, clock: Clock, service_secret: str, dead_after: timedelta = timedelta(seconds=30),
                 control_timeout: float = 2.0, pool: WarmPool | None = None, events: EventPublisher | None = None,
                 ready_wait: float = 3.0, offer_timeout: float = 10.0):
        self._launcher = launcher
        self._clock = clock
        self._secret = service_secret
        self._dead_after = dead_after
        self._control_timeout = control_timeout
        self._offer_timeout = offer_timeout  # the worker gathers its candidates before answering
        self._pool = pool
        self._events = events
        # How long a start that claimed a pooled worker waits for its first heartbeat as the
        # space's worker, so that the first join finds it ready instead of retrying.
        self._ready_wait = ready_wait

    def start(self, space_id: str, recording: bool = True) -> None:
        self._start(space_id, recording)

    def _start(self, space_id: str, recording: bool | None = None) -> bool:
        """Give the space a worker unless a live one serves it (or another call is starting
        one): a pooled worker if the pool has one, else a new one. True if this call did.
        ``recording`` None (a replacement): as the space's previous worker was told."""
        now = self._clock.now()
        previous = self._record(space_id)
        if recording is None:
            recording = previous is None or previous.recording is None or bool(previous.recording)
        record = MediaWorkerModel(space_id=space_id, state=WorkerState.STARTING, launched_at=iso(now),
                                  worker_id=new_id(now), expires_at=now + timedelta(days=1), recording=recording)
        alive_since = iso(now - self._dead_after)
        try:
            # One worker per space: only if there is no record, the last worker is gone or
            # closing, or it went silent.
            # Never for a space that ended meanwhile (the record would lose its ``space_state``).
            record.save(condition=(MediaWorkerModel.space_id.does_not_exist()
                                   | MediaWorkerModel.state.is_in(WorkerState.GONE, WorkerState.CLOSING)
                                   | (MediaWorkerModel.heartbeat_at < alive_since)
                                   | (MediaWorkerModel.heartbeat_at.does_not_exist()
                                      & (MediaWorkerModel.launched_at < alive_since)))
                        & (MediaWorkerModel.space_state.does_not_exist() | (MediaWorkerModel.space_state != SPACE_ENDED)))
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False  # a live worker exists, or another request is launching one
            raise
        pooled = self._claim_pooled(space_id, record, recording)
        if pooled is None:
            try:
                handle = self._launcher.launch(space_id, record.worker_id or "", recording)
            except Exception:
                # Nothing runs for the space: say so, so the next join tries again at once.
                record.update(actions=[MediaWorkerModel.state.set(WorkerState.GONE),
                                       MediaWorkerModel.gone_reason.set("launch failed")])
                raise
            # (No URL until the new worker's heartbeat: not a pooled one's that failed its hand-over.)
            record.update(actions=[MediaWorkerModel.handle.set(handle), MediaWorkerModel.url.remove()])
        logger.info("media worker launched", extra={"space_id": space_id, "handle": record.handle, "pooled": pooled is not None,
                                                     "replacing": previous.state if previous is not None else None})
        if pooled is not None:
            self._wait_until_ready(space_id)
        if previous is not None:  # once a pooled worker is ready, so that the room's re-offers find it so
            self._announce_restart(space_id, previous)
        if self._pool is not None:
            try:
                self._pool.refill()
            except Exception:  # noqa: BLE001 - the space has its worker; the pool's schedule refills later
                logger.exception("warm pool not refilled", extra={"space_id": space_id})
        return True

    def _claim_pooled(self, space_id: str, record: MediaWorkerModel, recording: bool) -> str | None:
        """Take an idle worker from the pool for the space and hand it over; its handle, or
        None when the pool has none that answers (the caller then launches one)."""
        if self._pool is None:
            return None
        while (claimed := self._pool.claim(space_id)) is not None:
            # The record names the worker before the worker learns its space: its first
            # heartbeat (state ready) then always lands on a record that is already its own.
            record.update(actions=[MediaWorkerModel.handle.set(claimed.handle), MediaWorkerModel.url.set(claimed.url),
                                   MediaWorkerModel.worker_id.set(claimed.worker_id)])
            if self._pool.hand_over(claimed, space_id, recording):
                return claimed.handle
        return None

    def _wait_until_ready(self, space_id: str) -> None:
        deadline = time.monotonic() + self._ready_wait
        while time.monotonic() < deadline:
            record = self._record(space_id)
            if record is None or record.state != WorkerState.STARTING:
                return
            time.sleep(0.05)

    def _announce_restart(self, space_id: str, previous: MediaWorkerModel) -> None:
        """Everyone in the room joins again and re-offers through the API: the new worker admits
        each with the role and mute the API gives them then, so the room's state comes back."""
        if self._events is None:
            return
        reason = "worker_exited" if previous.state == WorkerState.GONE else (
            "worker_closed" if previous.state == WorkerState.CLOSING else "worker_silent")
        self._events.publish(RoomEvent(MEDIA_RESTARTED, space_id, self._clock.now(), {"reason": reason}))

    def endpoint(self, space_id: str) -> MediaEndpoint:
        record = self._record(space_id)
        if record is None or self._replaceable(record):
            self._start(space_id)
            record = self._record(space_id)
        if record is None or not self._serving(record):
            raise Unavailable("The media worker is starting; retry shortly.", code="media_starting", retry_after=1)
        assert record.url is not None
        return MediaEndpoint(record.url)

    def worker_exited(self, handle: str, exit_code: int | None, reason: str) -> None:
        """Mark the space's record ``gone`` now; a live space whose worker had been serving gets
        a new one at once and its room is told. A pooled worker's exit frees its slot."""
        if self._pool is not None and self._pool.worker_exited(handle):
            return
        for key in MediaWorkerModel.by_handle.query(handle):
            record = self._record(key.space_id)
            if record is None or record.handle != handle or record.state == WorkerState.GONE:
                continue
            was, served = record.state, record.heartbeat_at is not None
            actions: list[Action] = [MediaWorkerModel.state.set(WorkerState.GONE), MediaWorkerModel.gone_reason.set(reason)]
            if exit_code is not None:
                actions.append(MediaWorkerModel.exit_code.set(exit_code))
            try:
                record.update(actions=actions, condition=(MediaWorkerModel.handle == handle) & (MediaWorkerModel.state == was))
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    continue  # replaced or marked meanwhile
                raise
            log = logger.info if was == WorkerState.CLOSING else logger.warning
            log("media worker gone", extra={"space_id": record.space_id, "handle": handle, "exit_code": exit_code,
                                            "reason": reason, "was": was})
            # A worker that closed (space ended, room empty) is replaced by the next join, if any;
            # one that never served is too (no restart loop for a worker that cannot start).
            if was != WorkerState.CLOSING and served and record.space_state != SPACE_ENDED:
                self._start(record.space_id)

    def refill_pool(self) -> int:
        return self._pool.refill() if self._pool is not None else 0

    def offer(self, space_id: str, grant: str, offer: dict[str, str]) -> dict[str, str]:
        endpoint = self.endpoint(space_id)
        try:
            reply = relay_offer(endpoint.url, grant, offer, self._offer_timeout)
        except WorkerUnreachable as exc:
            logger.warning("media worker unreachable for an offer", extra={"space_id": space_id, "error": str(exc)})
            raise Unavailable("The media worker did not answer; retry shortly.", code="media_unavailable",
                              retry_after=2) from exc
        if reply.status == 200:
            return {"sdp": str(reply.body.get("sdp", "")), "type": str(reply.body.get("type", "answer"))}
        message = str((reply.body.get("error") or {}).get("message", "The media worker refused the offer."))
        if reply.status == 400:
            raise ValidationFailed(message, code="bad_offer")
        if reply.status == 409:
            raise Conflict(message, code=reply.error_code or "offer_superseded")
        if reply.status == 403:
            raise Forbidden(message, code=reply.error_code or "not_admitted")
        # A refused grant (keys out of step) or a worker not serving this space yet: ours to fix, the client's to retry.
        logger.error("media worker refused a relayed offer", extra={
            "space_id": space_id, "status": reply.status, "code": reply.error_code})
        raise Unavailable("The media worker could not take the offer; retry shortly.", code="media_unavailable",
                          retry_after=2)

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        command = ControlAction(action)  # a typo here is a bug, not a worker's refusal
        record = self._record(space_id)
        if record is None or not record.url or record.state == WorkerState.GONE:
            return False
        payload = {"space_id": space_id, "action": command, "decided_at": millis(self._clock.now()), **fields}
        error = signed_post(record.url, CONTROL_PATH, payload, self._secret, self._control_timeout)
        if error is not None:
            # Admissions carry the API's state too (a re-offer goes through the API); never fail the API call.
            logger.warning("media control failed", extra={"space_id": space_id, "action": command, "error": error})
        return error is None

    def stop(self, space_id: str) -> None:
        record = self._record(space_id)
        if record is None:
            return
        # Recorded first: a worker that misses the close call still stops at its next heartbeat.
        record.update(actions=[MediaWorkerModel.space_state.set(SPACE_ENDED)])
        self.control(space_id, ControlAction.CLOSE)
        if record.handle and record.state != WorkerState.GONE:
            self._launcher.terminate(record.handle)

    def _record(self, space_id: str) -> MediaWorkerModel | None:
        try:
            return MediaWorkerModel.get(space_id, consistent_read=True)
        except DoesNotExist:
            return None

    def _replaceable(self, record: MediaWorkerModel) -> bool:
        """Known dead (gone), closing, or silent past ``dead_after``."""
        return record.state in (WorkerState.GONE, WorkerState.CLOSING) or self._is_dead(record)

    def _serving(self, record: MediaWorkerModel) -> bool:
        return record.state == WorkerState.READY and bool(record.url) and not self._is_dead(record)

    def _is_dead(self, record: MediaWorkerModel) -> bool:
        seen = record.last_seen()
        return seen is None or self._clock.now() - seen > self._dead_after
