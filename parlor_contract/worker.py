"""The media worker's process contract: the environment it is started with (by the local
launcher, ECS and the CDK task definition) and the record it keeps in the workers table."""

from __future__ import annotations

from enum import StrEnum


class WorkerEnv(StrEnum):
    """Environment variables ``python -m media_worker`` reads (``media_worker.config``)."""

    SPACE_ID = "PARLOR_SPACE_ID"
    # Which worker the API launched for the space: its heartbeat writes the space's record only
    # while the record still names it (a replaced worker that wakes up never takes it back).
    WORKER_ID = "PARLOR_MEDIA_WORKER_ID"
    PORT = "PARLOR_MEDIA_PORT"
    BIND_HOST = "PARLOR_MEDIA_BIND_HOST"
    PUBLIC_HOST = "PARLOR_MEDIA_PUBLIC_HOST"
    # Where the API reaches the worker's HTTP port when that is not the public host: on ECS the
    # task's private IP (learned at start), since only the API, inside the VPC, may reach it.
    PRIVATE_HOST = "PARLOR_MEDIA_PRIVATE_HOST"
    PUBLIC_URL = "PARLOR_MEDIA_PUBLIC_URL"
    TOKEN_PUBLIC_KEY = "PARLOR_MEDIA_TOKEN_PUBLIC_KEY"
    SERVICE_SECRET = "PARLOR_SERVICE_SECRET"
    API_URL = "PARLOR_API_URL"
    WORKERS_TABLE = "PARLOR_WORKERS_TABLE"
    HEARTBEAT_SECONDS = "PARLOR_HEARTBEAT_SECONDS"
    EMPTY_GRACE_SECONDS = "PARLOR_EMPTY_GRACE_SECONDS"
    JITTER_FRAMES = "PARLOR_MEDIA_JITTER_FRAMES"
    STUN_URL = "PARLOR_MEDIA_STUN_URL"
    # How listeners' packets go out: "batch" (one compiled call protects and sends a tick's
    # packet to every listener), "fast" (RTP + SRTP + sendto per listener from Python), "naive"
    # (each listener's aiortc RTCRtpSender). The last two are the bench's baselines.
    SEND_PATH = "PARLOR_MEDIA_SEND_PATH"
    # The batch path's implementation: "auto" (the compiled extension when it loads, else the
    # pure-Python fallback, logged at start), "compiled" (fail without it), "python".
    BATCH_IMPL = "PARLOR_MEDIA_BATCH"
    # Processes carrying listeners (default: the CPUs the worker may use). With 1 the mixing
    # process sends to everyone; with more, listeners are spread over that many sender processes.
    PROCESSES = "PARLOR_MEDIA_PROCESSES"
    # The one UDP port each process's peer connections share (0: an ephemeral one).
    UDP_PORT = "PARLOR_MEDIA_UDP_PORT"
    # Mix as soon as every speaker heard recently has a frame, instead of on the 20 ms clock.
    MIX_ON_ARRIVAL = "PARLOR_MEDIA_MIX_ON_ARRIVAL"
    JITTER_PREFETCH = "PARLOR_MEDIA_JITTER_PREFETCH"
    CONNECT_TIMEOUT_SECONDS = "PARLOR_MEDIA_CONNECT_TIMEOUT_SECONDS"
    CONSENT_TIMEOUT_SECONDS = "PARLOR_MEDIA_CONSENT_TIMEOUT_SECONDS"
    # A warm-pool worker is started without a space: it holds a slot of the pool table
    # until the API claims it for a space (``POOL_CLAIM_PATH``).
    POOL_TABLE = "PARLOR_POOL_TABLE"
    POOL_SLOT = "PARLOR_POOL_SLOT"
    POOL_WORKER_ID = "PARLOR_POOL_WORKER_ID"
    # The audience tier (``parlor_contract.hls``): the bucket the room's HLS stream is written
    # to (none: no HLS), and whether the space records (its segments are kept after the end).
    MEDIA_BUCKET = "PARLOR_MEDIA_BUCKET"
    RECORDING = "PARLOR_HLS_RECORDING"


class WorkerState(StrEnum):
    STARTING = "starting"  # written by the launcher
    READY = "ready"  # written by the worker's heartbeat: it takes offers at its url
    CLOSING = "closing"  # the worker's last heartbeat
    GONE = "gone"  # written by the API when it learns the process/task exited (never by the worker)


class HeartbeatField(StrEnum):
    """Attributes of a worker's record (table ``media_workers``, key ``space_id``). The worker
    writes all but ``space_state``; the API writes ``space_state`` and reads the rest."""

    SPACE_ID = "space_id"
    URL = "url"
    STATE = "state"
    PARTICIPANTS = "participants"  # role -> count
    PACKETS_FORWARDED = "packets_forwarded"
    CPU_SECONDS = "cpu_seconds"
    PID = "pid"
    HEARTBEAT_AT = "heartbeat_at"  # ISO 8601 UTC
    EXPIRES_AT = "expires_at"  # epoch seconds (the table's TTL)
    SPACE_STATE = "space_state"
    WORKER_ID = "worker_id"  # written by the API; the worker's heartbeat is conditioned on it


# ``space_state`` once the space has ended: the worker closes at its next heartbeat.
SPACE_ENDED = "ended"


class PoolState(StrEnum):
    STARTING = "starting"  # written by the API as it launches a worker into a slot
    IDLE = "idle"  # written by the worker: bound, ready, waiting to be claimed
    CLAIMED = "claimed"  # written by the API: the worker now serves ``claimed_by``
    GONE = "gone"  # written by the API: the slot's worker exited


class PoolField(StrEnum):
    """Attributes of a warm-pool slot's record (table ``media_pool``, key ``slot``). The API
    writes the slot, ``worker_id``, ``handle``, ``claimed_by`` and every state but ``idle``;
    the idle worker writes ``idle`` with its URL and heartbeat, only while ``worker_id`` is its own."""

    SLOT = "slot"
    WORKER_ID = "worker_id"
    STATE = "state"
    URL = "url"
    PID = "pid"
    HEARTBEAT_AT = "heartbeat_at"  # ISO 8601 UTC
    CLAIMED_BY = "claimed_by"  # the space id
    EXPIRES_AT = "expires_at"


# The API hands a pooled worker its space: ``POST`` ``{"space_id", "worker_id"}``, signed
# with the service secret (``parlor_contract.signatures``).
POOL_CLAIM_PATH = "/claim"
