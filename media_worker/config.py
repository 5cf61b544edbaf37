"""The worker's configuration: each setting declared once (name, type, default, environment
variable), read from the environment when the process starts; a few flags may override."""

from __future__ import annotations

import argparse
import os
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parlor_contract.secret_rules import weakness
from parlor_contract.worker import WorkerEnv

# Flags that override their variable (``python -m media_worker --port 9001``).
_FLAGS = {"space_id": "--space-id", "port": "--port", "bind_host": "--bind-host", "public_host": "--public-host"}


_SPACE_REQUIRED = f"{WorkerEnv.SPACE_ID} (or --space-id) is required"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names its variable (or flag)."""


def _from(variable: WorkerEnv, default: Any = ..., **constraints: Any) -> Any:
    if "default_factory" in constraints:
        return Field(validation_alias=str(variable), **constraints)
    return Field(default, validation_alias=str(variable), **constraints)


class WorkerConfig(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, validate_by_name=True, validate_by_alias=True,
                                      env_ignore_empty=True)

    # Required, unless the worker starts into the warm pool (``pool_slot``): then the API's claim gives it.
    space_id: str = _from(WorkerEnv.SPACE_ID, "")
    token_public_key: str = _from(WorkerEnv.TOKEN_PUBLIC_KEY, "")
    service_secret: str = _from(WorkerEnv.SERVICE_SECRET, "", repr=False)
    bind_host: str = _from(WorkerEnv.BIND_HOST, "127.0.0.1")
    port: int = _from(WorkerEnv.PORT, 9000, ge=0, le=65535)
    public_host: str = _from(WorkerEnv.PUBLIC_HOST, "127.0.0.1")
    private_host: str = _from(WorkerEnv.PRIVATE_HOST, "")
    public_url: str = _from(WorkerEnv.PUBLIC_URL, "")
    api_url: str = _from(WorkerEnv.API_URL, "")
    workers_table: str = _from(WorkerEnv.WORKERS_TABLE, "")
    heartbeat_seconds: float = _from(WorkerEnv.HEARTBEAT_SECONDS, 5.0, gt=0)
    empty_grace_seconds: float = _from(WorkerEnv.EMPTY_GRACE_SECONDS, 120.0, ge=0)
    # How many 20 ms frames a speaker may queue before old ones are dropped (latency bound).
    jitter_frames: int = _from(WorkerEnv.JITTER_FRAMES, 3, ge=1)
    # Optional STUN server (e.g. "stun:stun.l.google.com:19302"): adds server-reflexive
    # candidates. Not needed for a Fargate task's public IP, which the worker learns at start
    # (media_worker/address.py). None by default.
    stun_url: str = _from(WorkerEnv.STUN_URL, "")
    # How listeners' packets go out (parlor_contract.worker.WorkerEnv.SEND_PATH): "batch" by
    # default; "fast" (media_worker.fastpath per listener) and "naive" (aiortc's RTCRtpSender)
    # are the baselines the bench compares it with.
    send_path: Literal["batch", "fast", "naive"] = _from(WorkerEnv.SEND_PATH, "batch")
    batch_impl: Literal["auto", "compiled", "python"] = _from(WorkerEnv.BATCH_IMPL, "auto")
    # Processes carrying listeners: default the CPUs this process may run on (a Fargate task's vCPUs).
    processes: int = _from(WorkerEnv.PROCESSES, default_factory=lambda: len(os.sched_getaffinity(0)), ge=1, le=64)
    udp_port: int = _from(WorkerEnv.UDP_PORT, 0, ge=0, le=65535)
    mix_on_arrival: bool = _from(WorkerEnv.MIX_ON_ARRIVAL, True)
    # Packets a speaker's audio waits before decoding: 0 = none (each Opus packet is a whole
    # frame; media_worker.fastpath.ImmediateAudioBuffer), n = aiortc's buffer (its default 4 = 80 ms).
    # The room's playout buffer (media_worker.playout) absorbs the network's jitter.
    jitter_prefetch: int = _from(WorkerEnv.JITTER_PREFETCH, 0, ge=0)
    # A participant whose connection is not up this long after its offer is dropped (browsers
    # send no end-of-candidates, so ICE alone never gives up on them).
    connect_timeout_seconds: float = _from(WorkerEnv.CONNECT_TIMEOUT_SECONDS, 20.0, gt=0)
    # A connected peer that stops answering ICE consent checks this long is dropped (aioice's
    # own default is 30 s: 6 missed checks 5 s apart).
    consent_timeout_seconds: float = _from(WorkerEnv.CONSENT_TIMEOUT_SECONDS, 30.0, gt=0)
    # A warm-pool worker (media_worker.pool): its slot in the pool table and the id the API gave it.
    pool_table: str = _from(WorkerEnv.POOL_TABLE, "")
    pool_slot: str = _from(WorkerEnv.POOL_SLOT, "")
    pool_worker_id: str = _from(WorkerEnv.POOL_WORKER_ID, "")
    worker_id: str = _from(WorkerEnv.WORKER_ID, "")
    # The audience tier (media_worker.hls): the bucket the room's HLS stream is written to
    # ("" = no HLS), and whether the space records (kept after the end, with a replay
    # playlist) or not (everything deleted at the end). A pooled worker learns ``recording``
    # from its claim.
    media_bucket: str = _from(WorkerEnv.MEDIA_BUCKET, "")
    recording: bool = _from(WorkerEnv.RECORDING, True)

    @model_validator(mode="after")
    def _has_a_space_or_a_slot(self) -> WorkerConfig:
        if not self.space_id and not self.pool_slot:
            raise ValueError(_SPACE_REQUIRED)
        if self.pool_slot and not (self.pool_table and self.pool_worker_id):
            raise ValueError(f"{WorkerEnv.POOL_SLOT} needs {WorkerEnv.POOL_TABLE} and {WorkerEnv.POOL_WORKER_ID}")
        return self

    @model_validator(mode="after")
    def _has_its_keys(self) -> WorkerConfig:
        """Fail closed: with a published or guessable service secret anyone could close the
        room or mute its speakers; without the public key no one could be admitted. The
        message names the variables, never their values."""
        problems = []
        if reason := weakness(self.service_secret):
            problems.append(f"{WorkerEnv.SERVICE_SECRET} {reason}")
        if not self.token_public_key.strip():
            problems.append(f"{WorkerEnv.TOKEN_PUBLIC_KEY} is required")
        elif not _is_an_ed25519_public_key(self.token_public_key):
            problems.append(f"{WorkerEnv.TOKEN_PUBLIC_KEY} is not an Ed25519 public key (PEM)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def fast_path(self) -> bool:
        """Listeners' packets bypass aiortc's RTCRtpSender (the batch and fast paths)."""
        return self.send_path != "naive"

    @property
    def identity(self) -> str:
        """The id the space's record must name for this worker to write it (a pooled worker
        keeps its pool id); empty when started by hand, which writes unconditionally."""
        return self.worker_id or self.pool_worker_id

    @property
    def url(self) -> str:
        return self.url_for(self.port)

    def url_for(self, port: int) -> str:
        """Where the API reaches the worker when it holds ``port`` (the one bound, with PORT=0):
        its private host where it has one (on ECS), else its public host."""
        return self.public_url or f"http://{self.private_host or self.public_host}:{port}"

    @classmethod
    def load(cls, argv: list[str] | None = None) -> WorkerConfig:
        """The environment's settings, overridden by flags; ``ConfigError`` names each missing
        or malformed one."""
        parser = argparse.ArgumentParser(prog="python -m media_worker", description="Parlor media worker")
        for field, flag in _FLAGS.items():
            parser.add_argument(flag, dest=field, help=f"overrides {cls.model_fields[field].validation_alias}")
        flags = {k: v for k, v in vars(parser.parse_args(argv or [])).items() if v is not None}
        try:
            return cls(**flags)  # validated like the environment's values, and preferred to them
        except ValidationError as exc:
            raise ConfigError("; ".join(_explain(e) for e in exc.errors())) from None


def _is_an_ed25519_public_key(pem: str) -> bool:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        return isinstance(load_pem_public_key(pem.encode()), Ed25519PublicKey)
    except (ValueError, TypeError):
        return False


def _explain(error: Any) -> str:
    """One error, named as the operator set it: the variable, or the flag (a flag's value is
    reported under its field name)."""
    if not error["loc"]:  # the whole configuration's rule: its message names the variables
        return str(error["ctx"]["error"]) if "ctx" in error else str(error["msg"])
    where = str(error["loc"][0])
    field = next((name for name, info in WorkerConfig.model_fields.items() if where in (name, info.validation_alias)), where)
    variable, flag = WorkerConfig.model_fields[field].validation_alias, _FLAGS.get(field)
    if error["type"] == "missing" or (field == "space_id" and error["type"] == "string_too_short"):
        return f"{variable}{f' (or {flag})' if flag else ''} is required"
    return f"{flag if where == field else variable}: {error['msg']} (got {error['input']!r})"
