"""CPU time and memory of a process and every process under it, read from ``/proc``.

The worker on several processes (a mixing process and its sender processes) is one
server: its CPU is the sum over its tree (``/proc/<pid>/task/<tid>/children`` lists each
thread's children), each process's utime + stime covering all its threads. A process
that exits between two readings drops out of the sum (the worker's do not, in a window)."""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def user_seconds(pid: int) -> float:
    """utime alone: the process's own code (ours, Python, libsrtp), not the kernel's on its behalf."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return int(fields[11]) / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in tree(pid))


def tree_user_seconds(pid: int) -> float:
    return sum(user_seconds(p) for p in tree(pid))


def tree_rss_mb(pid: int) -> float:
    return sum(rss_mb(p) for p in tree(pid))


def affinity(pid: int) -> set[int]:
    try:
        return os.sched_getaffinity(pid)
    except OSError:
        return set()
