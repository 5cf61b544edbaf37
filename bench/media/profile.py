"""Where the worker's time goes: py-spy samples it (without pausing it) during a
measurement window, and the samples are summed by the line of Python that was running —
for C calls (Opus, SRTP, sendto) that is the line that called them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# The frames every sample shares (the interpreter starting the event loop) say nothing.
_EVERYWHERE = ("<frozen runpy>", "asyncio/runners.py", "asyncio/base_events.py", "media_worker/__main__.py")
_FRAME = re.compile(r"^(?P<function>.+) \((?P<file>[^()]+):(?P<line>\d+)\)$")


@dataclass
class Profile:
    samples: int
    by_line: Counter[str]  # the innermost Python line, e.g. "push (media_worker/fastpath.py:97)"
    by_function: Counter[str]  # every function on the stack (inclusive), e.g. "tick (media_worker/room.py)"

    def top(self, counter: Counter[str], n: int = 12) -> list[tuple[str, float]]:
        return [(name, count / max(self.samples, 1)) for name, count in counter.most_common(n)]


def short(path: str) -> str:
    for marker in ("site-packages/", f"{os.getcwd()}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def parse(raw: str) -> Profile:
    """py-spy's raw (collapsed) format: one ``frame;frame;...;leaf count`` per line."""
    samples, by_line, by_function = 0, Counter[str](), Counter[str]()
    for row in raw.splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for frame in stack.split(";") if (m := _FRAME.match(frame.strip()))]
        if not frames:
            continue
        samples += count
        leaf = frames[-1]
        by_line[f"{leaf['function']} ({short(leaf['file'])}:{leaf['line']})"] += count
        for name in {f"{m['function']} ({short(m['file'])})" for m in frames if not m["file"].endswith(_EVERYWHERE)}:
            by_function[name] += count
    return Profile(samples, by_line, by_function)


def start(pid: int, seconds: float, rate: int = 250) -> tuple[subprocess.Popen[bytes], Path]:
    """Start sampling ``pid`` for ``seconds`` (on this process's core, not the worker's)."""
    output = Path(tempfile.mkstemp(suffix=".txt", prefix="parlor-profile-")[1])
    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
                             "--format", "raw", "--nonblocking", "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, output


def finish(proc: subprocess.Popen[bytes], output: Path) -> Profile:
    proc.wait(60)
    try:
        return parse(output.read_text())
    finally:
        output.unlink(missing_ok=True)
