"""Where media workers run: ``LocalProcessLauncher`` (a child process per worker, for the
local stack) and ``EcsLauncher`` (a Fargate task per worker, on AWS). Both implement
``Launcher``, all the media gateway knows of them; ``worker_env`` is what a local
worker's process gets.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from chalicelib.errors import Unavailable
from chalicelib.logs import logger
from parlor_contract.worker import WorkerEnv


class Launcher(Protocol):
    def launch(self, space_id: str, worker_id: str = "", recording: bool = True) -> str:
        """Start a worker process/task for a space, known by ``worker_id`` (``recording``:
        whether the space's HLS stream is kept after the end); returns a handle (pid or task ARN)."""

    def launch_pooled(self, slot: str, worker_id: str) -> str:
        """Start a worker with no space yet, into a warm-pool slot; returns its handle."""

    def terminate(self, handle: str) -> None: ...


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

    def launch(self, space_id: str, worker_id: str = "", recording: bool = True) -> str:
        return self._spawn({WorkerEnv.SPACE_ID: space_id, WorkerEnv.WORKER_ID: worker_id,
                            WorkerEnv.RECORDING: _flag(recording)})

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
    """Runs one Fargate task per live space (its space id, the API's URL and the media token's
    public key as container overrides), or a pooled one (its pool slot and worker id instead
    of a space id). The public key travels with each task, not in the task definition: the
    API derives it (``tokens.media_keypair``) and it is no secret; the service secret the task
    definition takes from Secrets Manager."""

    def __init__(self, ecs: Any, cluster: str, task_definition: str, container: str, subnets: list[str],
                 security_groups: list[str], api_url: str = "", token_public_key: str = "", media_bucket: str = ""):
        self._ecs = ecs
        self._media_bucket = media_bucket
        self._api_url = api_url
        self._token_public_key = token_public_key
        self._cluster = cluster
        self._task_definition = task_definition
        self._container = container
        self._subnets = subnets
        self._security_groups = security_groups

    def launch(self, space_id: str, worker_id: str = "", recording: bool = True) -> str:
        return self._run(f"space-{space_id}", {WorkerEnv.SPACE_ID: space_id, WorkerEnv.WORKER_ID: worker_id,
                                               WorkerEnv.RECORDING: _flag(recording)})

    def launch_pooled(self, slot: str, worker_id: str) -> str:
        return self._run(f"pool-{worker_id}", {WorkerEnv.POOL_SLOT: slot, WorkerEnv.POOL_WORKER_ID: worker_id})

    def _run(self, started_by: str, identity: Mapping[str, str]) -> str:
        given = {**identity, WorkerEnv.API_URL: self._api_url, WorkerEnv.TOKEN_PUBLIC_KEY: self._token_public_key}
        if self._media_bucket:
            given[WorkerEnv.MEDIA_BUCKET] = self._media_bucket
        environment = [{"name": str(k), "value": v} for k, v in given.items()]
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


def _flag(value: bool) -> str:
    return "true" if value else "false"


def worker_env(settings_env: Mapping[str, str], workers_table: str, public_key: str, service_secret: str,
               api_url: str, pool_table: str = "", media_bucket: str = "") -> dict[str, str]:
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
    if media_bucket:  # the room's HLS stream (media_worker.hls)
        env[WorkerEnv.MEDIA_BUCKET] = media_bucket
    return env


