"""Launching and controlling the media worker of a live space.

The spaces service only sees ``MediaGateway``. ``WorkerMediaGateway`` implements it on
top of a ``Launcher`` — a subprocess per space locally, a Fargate task per space on AWS —
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

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.clock import Clock, iso
from chalicelib.errors import Unavailable
from chalicelib.events import EventPublisher, RoomEvent
from chalicelib.logs import logger
from chalicelib.models.media_workers import MediaWorkerModel
from parlor_contract import signatures
from parlor_contract.media import ControlAction
from parlor_contract.worker import SPACE_ENDED, WorkerEnv, WorkerState

if TYPE_CHECKING:
    from chalicelib.gateways.media_pool import WarmPool

# The room event that tells everyone in a space to join again and re-offer: its worker changed.
MEDIA_RESTARTED = "media.restarted"


@dataclass(frozen=True)
class MediaEndpoint:
    url: str


class MediaGateway(Protocol):
    def start(self, space_id: str) -> None:
        """Start a worker for a space that just went live (idempotent)."""

    def endpoint(self, space_id: str) -> MediaEndpoint:
        """The worker's URL once it is ready; raises ``Unavailable`` while it starts."""

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        """Tell the worker about a role change, mute, removal or close (a ``ControlAction``).
        Best effort: True if the worker took the command, False (logged) otherwise."""

    def stop(self, space_id: str) -> None:
        """Stop the worker of a space that ended (idempotent)."""

    def worker_exited(self, handle: str, exit_code: int | None, reason: str) -> None:
        """The process or task ``handle`` is known to have exited (its launcher or ECS says so)."""

    def refill_pool(self) -> int:
        """Start workers into the empty slots of the warm pool; how many were started."""


class UnavailableMedia:
    """No launcher configured: spaces run, joins answer "media unavailable, retry"."""

    def start(self, space_id: str) -> None:
        return None

    def endpoint(self, space_id: str) -> MediaEndpoint:
        raise Unavailable("No media worker is configured.", code="media_unavailable", retry_after=5)

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        return False

    def stop(self, space_id: str) -> None:
        return None

    def worker_exited(self, handle: str, exit_code: int | None, reason: str) -> None:
        return None

    def refill_pool(self) -> int:
        return 0


class Launcher(Protocol):
    def launch(self, space_id: str) -> str:
        """Start a worker process/task for a space; returns a handle (pid or task ARN)."""

    def launch_pooled(self, slot: str, worker_id: str) -> str:
        """Start a worker with no space yet, into a warm-pool slot; returns its handle."""

    def terminate(self, handle: str) -> None: ...


class WorkerMediaGateway:
    def __init__(self, launcher: Launcher, clock: Clock, service_secret: str, dead_after: timedelta = timedelta(seconds=30),
                 control_timeout: float = 2.0, pool: WarmPool | None = None, events: EventPublisher | None = None,
                 ready_wait: float = 3.0):
        self._launcher = launcher
        self._clock = clock
        self._secret = service_secret
        self._dead_after = dead_after
        self._control_timeout = control_timeout
        self._pool = pool
        self._events = events
        # How long a start that claimed a pooled worker waits for its first heartbeat as the
        # space's worker, so that the first join finds it ready instead of retrying.
        self._ready_wait = ready_wait

    def start(self, space_id: str) -> None:
        self._start(space_id)

    def _start(self, space_id: str) -> bool:
        """Give the space a worker unless a live one serves it (or another call is starting
        one): a pooled worker if the pool has one, else a new one. True if this call did."""
        now = self._clock.now()
        previous = self._record(space_id)
        record = MediaWorkerModel(space_id=space_id, state=WorkerState.STARTING, launched_at=iso(now),
                                  expires_at=now + timedelta(days=1))
        alive_since = iso(now - self._dead_after)
        try:
            # One worker per space: only if there is no record, the last worker is gone or
            # closing, or it went silent.
            record.save(condition=MediaWorkerModel.space_id.does_not_exist()
                        | MediaWorkerModel.state.is_in(WorkerState.GONE, WorkerState.CLOSING)
                        | (MediaWorkerModel.heartbeat_at < alive_since)
                        | (MediaWorkerModel.heartbeat_at.does_not_exist() & (MediaWorkerModel.launched_at < alive_since)))
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False  # a live worker exists, or another request is launching one
            raise
        pooled = self._claim_pooled(space_id, record)
        if pooled is None:
            handle = self._launcher.launch(space_id)
            # (No URL until the new worker's heartbeat: not a pooled one's that failed its hand-over.)
            record.update(actions=[MediaWorkerModel.handle.set(handle), MediaWorkerModel.url.remove()])
        logger.info("media worker launched", extra={"space_id": space_id, "handle": record.handle, "pooled": pooled is not None,
                                                     "replacing": previous.state if previous is not None else None})
        if pooled is not None:
            self._wait_until_ready(space_id)
        if previous is not None:  # once a pooled worker is ready, so that the room's re-offers find it so
            self._announce_restart(space_id, previous)
        if self._pool is not None:
            self._pool.refill()
        return True

    def _claim_pooled(self, space_id: str, record: MediaWorkerModel) -> str | None:
        """Take an idle worker from the pool for the space and hand it over; its handle, or
        None when the pool has none that answers (the caller then launches one)."""
        if self._pool is None:
            return None
        while (claimed := self._pool.claim(space_id)) is not None:
            # The record names the worker before the worker learns its space: its first
            # heartbeat (state ready) then always lands on a record that is already its own.
            record.update(actions=[MediaWorkerModel.handle.set(claimed.handle), MediaWorkerModel.url.set(claimed.url)])
            if self._pool.hand_over(claimed, space_id):
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
        """Everyone in the room joins again and re-offers: the new worker admits each with the
        role (and mute) of their fresh media token, so the room's state comes back with them."""
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

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        command = ControlAction(action)  # a typo here is a bug, not a worker's refusal
        record = self._record(space_id)
        if record is None or not record.url or record.state == WorkerState.GONE:
            return False
        body = json.dumps({"action": command, **fields}).encode()
        request = urllib.request.Request(
            f"{record.url}/control", data=body, method="POST",
            headers={"Content-Type": "application/json", signatures.HEADER: signatures.sign(self._secret, body)})
        try:
            with urllib.request.urlopen(request, timeout=self._control_timeout):
                return True
        except (urllib.error.URLError, OSError) as exc:  # HTTPError (a refusal) is a URLError too
            # The worker also learns the truth from its next token/heartbeat; never fail the API call.
            logger.warning("media control failed", extra={"space_id": space_id, "action": command, "error": str(exc)})
            return False

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


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    port: int


class LocalProcessLauncher:
    """Runs ``python -m media_worker`` as a child process, each on its own local port.

    A thread waits on each child: the exit is reaped at once (no zombie), its port is free
    again, and the exit listeners hear of it (the gateway marks the worker gone). A port is
    handed to one live child only, whatever the timing of concurrent launches."""

    def __init__(self, env: Mapping[str, str], base_port: int, public_host: str = "127.0.0.1",
                 stop_grace_seconds: float = 5.0):
        self._env = dict(env)
        self._base_port = base_port
        self._public_host = public_host
        self._stop_grace = stop_grace_seconds
        self._lock = threading.Lock()
        self._children: dict[str, _Child] = {}
        self._ports: set[int] = set()
        self._listeners: list[Callable[[str, int | None, str], None]] = []

    def on_exit(self, listener: Callable[[str, int | None, str], None]) -> None:
        """Call ``listener(handle, exit_code, reason)`` when a child exits (from its watcher thread)."""
        self._listeners.append(listener)

    def launch(self, space_id: str) -> str:
        return self._spawn({WorkerEnv.SPACE_ID: space_id})

    def launch_pooled(self, slot: str, worker_id: str) -> str:
        return self._spawn({WorkerEnv.POOL_SLOT: slot, WorkerEnv.POOL_WORKER_ID: worker_id})

    def ports_in_use(self) -> set[int]:
        with self._lock:
            return set(self._ports)

    def _spawn(self, identity: Mapping[str, str]) -> str:
        with self._lock:  # chosen and taken in one step: two launches never share a port
            port = _free_port_from(self._base_port, self._ports)
            self._ports.add(port)
        env = {**self._env, **identity, WorkerEnv.PORT: str(port), WorkerEnv.BIND_HOST: "127.0.0.1",
               WorkerEnv.PUBLIC_HOST: self._public_host}
        try:
            process = subprocess.Popen([sys.executable, "-m", "media_worker"], env=env)
        except BaseException:
            with self._lock:
                self._ports.discard(port)
            raise
        handle = str(process.pid)
        with self._lock:
            self._children[handle] = _Child(process, port)
        threading.Thread(target=self._watch, args=(handle, process), name=f"media-worker-{handle}", daemon=True).start()
        return handle

    def _watch(self, handle: str, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()  # reaps the child
        with self._lock:
            child = self._children.pop(handle, None)
            if child is not None:
                self._ports.discard(child.port)
        reason = f"killed by signal {-code}" if code < 0 else ("exited" if code == 0 else f"exited with status {code}")
        logger.info("media worker process exited", extra={"handle": handle, "exit_code": code, "reason": reason})
        for listener in self._listeners:
            try:
                listener(handle, code, reason)
            except Exception:  # noqa: BLE001 - a watcher thread must not die silently; the heartbeat is the back-up
                logger.exception("media worker exit not recorded", extra={"handle": handle})

    def terminate(self, handle: str) -> None:
        """The worker was told to close; if it has not exited after the grace period, SIGTERM.
        Never blocks the caller (an API request)."""
        with self._lock:
            child = self._children.get(handle)
        if child is None:
            return
        timer = threading.Timer(self._stop_grace, self._terminate_if_running, args=(child.process,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _terminate_if_running(process: subprocess.Popen[bytes]) -> None:
        if process.returncode is None:
            try:
                process.terminate()
            except ProcessLookupError:
                pass


class EcsLauncher:
    """Runs one Fargate task per live space (its space id and the API's URL as container
    overrides), or a pooled one (its pool slot and worker id instead of a space id)."""

    def __init__(self, ecs: Any, cluster: str, task_definition: str, container: str, subnets: list[str],
                 security_groups: list[str], api_url: str = ""):
        self._ecs = ecs
        self._api_url = api_url
        self._cluster = cluster
        self._task_definition = task_definition
        self._container = container
        self._subnets = subnets
        self._security_groups = security_groups

    def launch(self, space_id: str) -> str:
        return self._run(f"space-{space_id}", {WorkerEnv.SPACE_ID: space_id})

    def launch_pooled(self, slot: str, worker_id: str) -> str:
        return self._run(f"pool-{worker_id}", {WorkerEnv.POOL_SLOT: slot, WorkerEnv.POOL_WORKER_ID: worker_id})

    def _run(self, started_by: str, identity: Mapping[str, str]) -> str:
        environment = [{"name": str(k), "value": v} for k, v in {**identity, WorkerEnv.API_URL: self._api_url}.items()]
        response = self._ecs.run_task(
            cluster=self._cluster,
            taskDefinition=self._task_definition,
            launchType="FARGATE",
            count=1,
            startedBy=started_by[:36],
            networkConfiguration={"awsvpcConfiguration": {"subnets": self._subnets, "securityGroups": self._security_groups,
                                                          "assignPublicIp": "ENABLED"}},
            overrides={"containerOverrides": [{"name": self._container, "environment": environment}]},
        )
        if not response.get("tasks"):
            raise Unavailable("Could not start a media worker.", code="media_unavailable", retry_after=5)
        return str(response["tasks"][0]["taskArn"])

    def terminate(self, handle: str) -> None:
        self._ecs.stop_task(cluster=self._cluster, task=handle, reason="space ended")


def task_family(table_prefix: str) -> str:
    """The worker's task definition family; the ECS task-state rule matches on it."""
    return f"{table_prefix}-media-worker"


def _free_port_from(start: int, taken: set[int]) -> int:
    for port in range(start, start + 1000):
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise Unavailable("No free port for a media worker.", code="media_unavailable")


def worker_env(settings_env: Mapping[str, str], workers_table: str, public_key: str, service_secret: str,
               api_url: str, pool_table: str = "") -> dict[str, str]:
    """The environment a local worker needs beyond its space id and port: the process's own
    (AWS endpoint and credentials, paths) without the API's secrets (the media token's
    private key, the session secret, Stripe's keys), which a worker must never hold."""
    worker_names = set(WorkerEnv)
    env = {k: v for k, v in settings_env.items()
           if not k.startswith(("PARLOR_", "STRIPE_")) or k in worker_names}
    env.update({WorkerEnv.WORKERS_TABLE: workers_table, WorkerEnv.TOKEN_PUBLIC_KEY: public_key,
                WorkerEnv.SERVICE_SECRET: service_secret, WorkerEnv.API_URL: api_url})
    if pool_table:
        env[WorkerEnv.POOL_TABLE] = pool_table
    return env


