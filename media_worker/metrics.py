"""What one process of a worker reports about the participants it holds, and how the worker
adds its processes' reports up (``/metrics``, the heartbeat).

Each process (the mixing one, each sender) builds its own report with ``of_process``; the
worker sums them with ``merge``, which knows no field by name: numbers add up, nested dicts
merge key by key (so per-user blocks such as ``{"by_user": {user_id: ...}}`` unite, each user
being held by one process). A figure that must not be summed (a percentile, a ratio) belongs
per user, or is computed by the worker from the merged counts."""

from __future__ import annotations

import os
import time
from typing import Any

from media_worker.room import Room
from parlor_contract.media import Role


def of_process(room: Room) -> dict[str, Any]:
    """This process's share: its participants by role, its packets and bytes sent, its CPU."""
    counts = {str(role): 0 for role in Role}
    for participant in room.participants.values():
        counts[participant.role] = counts.get(participant.role, 0) + 1
    c = room.counters
    return {"participants": counts, "frames_in": c.frames_in, "packets_out": c.packets_out,
            "bytes_out": c.bytes_out, "cpu_seconds": round(time.process_time(), 3), "pid": os.getpid()}


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The processes' reports as one: numbers summed, dicts merged recursively, anything else
    (a string, a list) the first process's. ``pid`` is left out (it is per process)."""
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "pid":
                continue
            if key not in total:
                total[key] = merge([value]) if isinstance(value, dict) else value
            elif isinstance(value, dict) and isinstance(total[key], dict):
                total[key] = merge([total[key], value])
            elif _number(value) and _number(total[key]):
                total[key] = total[key] + value
    return total


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
