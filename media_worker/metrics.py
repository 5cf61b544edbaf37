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
            "bytes_out": c.bytes_out, "cpu_seconds": round(time.process_time(), 3), "pid": os.getpid(),
            "reports_by_user": _reports_by_user(room)}


def _reports_by_user(room: Room) -> dict[str, dict[str, Any]]:
    """What each participant's latest receiver report says about the mix sent to it
    (``media_worker.rtcp``, read off the mux: no getStats)."""
    by_user = {}
    for participant in list(room.participants.values()):
        reports = getattr(participant.sink, "reports", None)
        latest = getattr(reports, "latest", None)
        if latest is not None:
            by_user[participant.user_id] = {"fraction_lost": round(latest.fraction_lost, 4),
                                            "packets_lost": latest.packets_lost, "jitter": latest.jitter,
                                            "round_trip": reports.round_trip}  # type: ignore[union-attr]
    return by_user


def listeners_loss(total: dict[str, Any]) -> dict[str, Any]:
    """The loss every participant reports, from the merged per-user reports (a worst case is
    not a sum: computed here, once merged)."""
    by_user = total.get("reports_by_user", {})
    return {"reporting": len(by_user), "packets_lost": sum(u["packets_lost"] for u in by_user.values()),
            "worst_fraction_lost": max((u["fraction_lost"] for u in by_user.values()), default=0.0),
            "by_user": by_user}


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
