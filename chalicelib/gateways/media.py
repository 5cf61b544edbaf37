"""Launching and controlling the media worker of a live space.

The spaces service only sees ``MediaGateway``. ``WorkerMediaGateway`` implements it on
top of a ``Launcher`` — a subprocess per space locally, a Fargate task per space on AWS —
and the worker registry (``MediaWorkerModel``), which the worker keeps fresh with its
heartbeat. A worker silent for ``dead_after`` is treated as dead and replaced.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Protocol

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.clock import Clock, iso
from chalicelib.errors import Unavailable
from chalicelib.logs import logger
from chalicelib.models.media_workers import MediaWorkerModel
from parlor_contract import signatures
from parlor_contract.media import ControlAction
from parlor_contract.worker import SPACE_ENDED, WorkerEnv, WorkerState


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


class Launcher(Protocol):
    def launch(self, space_id: str) -> str:
        """Start a worker process/task; returns a handle (pid or task ARN)."""

    def terminate(self, handle: str) -> None: ...


class WorkerMediaGateway:
    def __init__(self, launcher: Launcher, clock: Clock, service_secret: str, dead_after: timedelta = timedelta(seconds=30),
                 control_timeout: float = 2.0):
        self._launcher = launcher
        self._clock = clock
        self._secret = service_secret
        self._dead_after = dead_after
        self._control_timeout = control_timeout

    def start(self, space_id: str) -> None:
        now = self._clock.now()
        record = MediaWorkerModel(space_id=space_id, state=WorkerState.STARTING, launched_at=iso(now),
                                  expires_at=now + timedelta(days=1))
        alive_since = iso(now - self._dead_after)
        try:
            # One launch per space: only if there is no record, or the last one went silent.
            record.save(condition=MediaWorkerModel.space_id.does_not_exist()
                        | (MediaWorkerModel.heartbeat_at < alive_since)
                        | (MediaWorkerModel.heartbeat_at.does_not_exist() & (MediaWorkerModel.launched_at < alive_since)))
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return  # a live worker exists, or another request is launching one
            raise
        handle = self._launcher.launch(space_id)
        record.update(actions=[MediaWorkerModel.handle.set(handle)])
        logger.info("media worker launched", extra={"space_id": space_id, "handle": handle})

    def endpoint(self, space_id: str) -> MediaEndpoint:
        record = self._record(space_id)
        if record is None or self._is_dead(record):
            self.start(space_id)
            raise Unavailable("The media worker is starting; retry shortly.", code="media_starting", retry_after=1)
        if record.state != WorkerState.READY or not record.url:
            raise Unavailable("The media worker is starting; retry shortly.", code="media_starting", retry_after=1)
        return MediaEndpoint(record.url)

    def control(self, space_id: str, action: ControlAction, **fields: Any) -> bool:
        command = ControlAction(action)  # a typo here is a bug, not a worker's refusal
        record = self._record(space_id)
        if record is None or not record.url:
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
        if record.handle:
            self._launcher.terminate(record.handle)

    def _record(self, space_id: str) -> MediaWorkerModel | None:
        try:
            return MediaWorkerModel.get(space_id, consistent_read=True)
        except DoesNotExist:
            return None

    def _is_dead(self, record: MediaWorkerModel) -> bool:
        seen = record.last_seen()
        return seen is None or self._clock.now() - seen > self._dead_after


class LocalProcessLauncher:
    """Runs ``python -m media_worker`` as a child process on a free local port."""

    def __init__(self, env: Mapping[str, str], base_port: int, public_host: str = "127.0.0.1"):
        self._env = dict(env)
        self._base_port = base_port
        self._public_host = public_host
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def launch(self, space_id: str) -> str:
        port = _free_port_from(self._base_port)
        env = {**self._env, WorkerEnv.SPACE_ID: space_id, WorkerEnv.PORT: str(port),
               WorkerEnv.BIND_HOST: "127.0.0.1", WorkerEnv.PUBLIC_HOST: self._public_host}
        child = subprocess.Popen([sys.executable, "-m", "media_worker"], env=env)
        self._children[str(child.pid)] = child
        return str(child.pid)

    def terminate(self, handle: str) -> None:
        child = self._children.pop(handle, None)
        if child is not None and child.poll() is None:
            try:
                child.wait(timeout=5)  # it was told to close; give it a moment
            except subprocess.TimeoutExpired:
                child.terminate()


class EcsLauncher:
    """Runs one Fargate task per live space (its space id and the API's URL as container overrides)."""

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
        response = self._ecs.run_task(
            cluster=self._cluster,
            taskDefinition=self._task_definition,
            launchType="FARGATE",
            count=1,
            startedBy=f"space-{space_id}"[:36],
            networkConfiguration={"awsvpcConfiguration": {"subnets": self._subnets, "securityGroups": self._security_groups,
                                                          "assignPublicIp": "ENABLED"}},
            overrides={"containerOverrides": [{"name": self._container, "environment": [
                {"name": WorkerEnv.SPACE_ID, "value": space_id}, {"name": WorkerEnv.API_URL, "value": self._api_url}]}]},
        )
        if not response.get("tasks"):
            raise Unavailable("Could not start a media worker.", code="media_unavailable", retry_after=5)
        return str(response["tasks"][0]["taskArn"])

    def terminate(self, handle: str) -> None:
        self._ecs.stop_task(cluster=self._cluster, task=handle, reason="space ended")


def _free_port_from(start: int) -> int:
    for port in range(start, start + 1000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise Unavailable("No free port for a media worker.", code="media_unavailable")


def worker_env(settings_env: Mapping[str, str], workers_table: str, public_key: str, service_secret: str,
               api_url: str) -> dict[str, str]:
    """The environment a local worker needs beyond its space id and port: the process's own
    (AWS endpoint and credentials, paths) without the API's secrets (the media token's
    private key, the session secret, Stripe's keys), which a worker must never hold."""
    worker_names = set(WorkerEnv)
    env = {k: v for k, v in settings_env.items()
           if not k.startswith(("PARLOR_", "STRIPE_")) or k in worker_names}
    env.update({WorkerEnv.WORKERS_TABLE: workers_table, WorkerEnv.TOKEN_PUBLIC_KEY: public_key,
                WorkerEnv.SERVICE_SECRET: service_secret, WorkerEnv.API_URL: api_url})
    return env


