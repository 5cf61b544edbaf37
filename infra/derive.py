"""What the stack derives from the application itself, so nothing is copied by hand:
DynamoDB tables from the PynamoDB models, SQS queues from the app's queue handlers,
and the media worker's command and port from its own defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from pynamodb.attributes import TTLAttribute


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: tuple[str, str]  # (attribute, type S/N/B)
    range_key: tuple[str, str] | None
    ttl_attribute: str | None
    global_indexes: list[IndexSpec] = field(default_factory=list)
    local_indexes: list[IndexSpec] = field(default_factory=list)


def _keys(key_schema: list[dict], types: dict[str, str]) -> tuple[tuple[str, str], tuple[str, str] | None]:
    hash_name = next(k["AttributeName"] for k in key_schema if k["KeyType"] == "HASH")
    range_name = next((k["AttributeName"] for k in key_schema if k["KeyType"] == "RANGE"), None)
    return (hash_name, types[hash_name]), ((range_name, types[range_name]) if range_name else None)


def table_specs() -> list[TableSpec]:
    from chalicelib.models import ALL_MODELS

    specs = []
    for model in ALL_MODELS:
        schema = model._get_schema()  # PynamoDB's own description of the table (as create_table sends it)
        types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
        hash_key, range_key = _keys(schema["key_schema"], types)
        indexes = {}
        for kind in ("global_secondary_indexes", "local_secondary_indexes"):
            indexes[kind] = [IndexSpec(i["index_name"], *_keys(i["key_schema"], types)) for i in schema.get(kind, [])]
        ttl = next((name for name, attr in model.get_attributes().items() if isinstance(attr, TTLAttribute)), None)
        specs.append(TableSpec(model.Meta.table_name, hash_key, range_key, ttl,
                               indexes["global_secondary_indexes"], indexes["local_secondary_indexes"]))
    return specs


def queue_names() -> list[str]:
    from local.bootstrap import sqs_queue_names

    return sqs_queue_names()


def queue_event_sources() -> list[tuple[str, str]]:
    """Each queue handler's function and SQS event, as Chalice names them in its SAM template."""
    from chalice.app import SQSEventConfig
    from chalice.utils import to_cfn_resource_name

    from app import app

    return [(to_cfn_resource_name(s.name), to_cfn_resource_name(f"{s.name}-sqs-event-source"))
            for s in app.event_sources if isinstance(s, SQSEventConfig)]


WORKER_COMMAND = ["python", "-m", "media_worker"]

# The media worker's Fargate task size (context ``media_task_vcpu``): vCPU → memory (MiB).
# One process per whole vCPU carries listeners (PARLOR_MEDIA_PROCESSES); the API's WebRTC
# listener cap follows from the size (``webrtc_listener_cap``). docs/CAPACITY.md compares them.
MEDIA_TASK_MEMORY_MIB = {0.25: 512, 0.5: 1024, 1: 2048, 2: 4096, 4: 8192}
DEFAULT_MEDIA_TASK_VCPU = 1
# WebRTC listeners one vCPU carries at ≤ 0.5% loss on the batch path, beyond the room's own cost, by `python -m bench.media`
# (docs/BENCHMARKS.md: 1,600 listeners at 10.5–11.8 µs per packet, 1,700–1,900 per core, 2026-11-30), and
# the share of it the cap may fill: the rest is the room's own (its speakers, their mixes, the
# HLS encode, a burst of joins) and headroom for a vCPU slower than the bench's core.
LISTENERS_PER_VCPU = 1700  # the lower of the two runs
ROOM_VCPU = 0.1  # the room's own: decoding its speakers, mixing, two Opus encodes (bench.hls)
CAP_SHARE = 0.6


def media_task_vcpu(value: object) -> float:
    """The task size asked for (context), checked against the sizes Fargate offers here."""
    vcpu = float(value) if value not in (None, "") else float(DEFAULT_MEDIA_TASK_VCPU)
    if vcpu not in MEDIA_TASK_MEMORY_MIB:
        raise ValueError(f"media_task_vcpu must be one of {', '.join(f'{v:g}' for v in MEDIA_TASK_MEMORY_MIB)} (got {value!r})")
    return vcpu


def media_processes(vcpu: float) -> int:
    """Processes carrying listeners in a task of ``vcpu``: one per whole vCPU (a fraction: one)."""
    return max(1, int(vcpu))


def webrtc_listener_cap(vcpu: float) -> int:
    """WebRTC listeners a room takes before the rest go to HLS, for a task of ``vcpu``."""
    return int(LISTENERS_PER_VCPU * (vcpu - ROOM_VCPU) * CAP_SHARE) // 50 * 50
WORKER_PORT = 9000
# aioice binds each peer connection to an ephemeral UDP port (it has no port-range option):
# the Linux default range, which the security group opens.
WORKER_UDP_PORTS = (32768, 60999)
