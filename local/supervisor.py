"""Keeps the stack's components running, as a process manager would: one that exits is
started again and the reason is said in one line (how it ended and the last thing it
logged). Restarts back off (1 s, 2 s, 4 s … up to 30 s) while a component keeps dying
soon after it starts, and stop after a few such tries: a component that cannot start says
why, once, instead of spinning. The stack itself stops only on Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from local.logs import CONSOLE, last_words, log_tail
from local.stack import Component, Stack, exit_reason

log = logging.getLogger(CONSOLE)  # each line here is for the person running the stack


@dataclass
class _Record:
    started_at: float
    quick_failures: int = 0  # in a row, each soon after its start
    retry_at: float | None = None
    given_up: bool = False


class Supervisor:
    def __init__(self, stack: Stack, clock: Callable[[], float] = time.monotonic, first_delay: float = 1.0,
                 max_delay: float = 30.0, stable_after: float = 30.0, max_quick_failures: int = 5):
        self._stack, self._clock = stack, clock
        self._first_delay, self._max_delay = first_delay, max_delay
        self._stable_after, self._max_quick_failures = stable_after, max_quick_failures
        self._records = {c.name: _Record(started_at=clock()) for c in stack.components}

    def check(self) -> None:
        """Notice exits and run the restarts that are due; call it every fraction of a second."""
        for component in self._stack.components:
            if self._stack.stopping:
                return
            record = self._records[component.name]
            if record.given_up:
                continue
            if record.retry_at is not None:
                if self._clock() >= record.retry_at:
                    self._restart(component, record)
            elif component.process is not None and component.process.poll() is not None:
                self._stack.end_leftovers(component)
                self._failed(component, record, exit_reason(component.process.returncode))

    def _restart(self, component: Component, record: _Record) -> None:
        record.retry_at = None
        record.started_at = self._clock()
        try:
            self._stack.restart(component)
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported and retried the same way
            if not self._stack.stopping:
                self._failed(component, record, str(exc))
            return
        log.info("%-7s restarted, %s", component.name, component.url or "running",
                 extra={"component": component.name, "pid": component.process.pid if component.process else None})

    def _failed(self, component: Component, record: _Record, reason: str) -> None:
        quick = self._clock() - record.started_at < self._stable_after
        record.quick_failures = record.quick_failures + 1 if quick else 1
        tail = log_tail(self._stack.log_path(component))
        last = last_words(tail)
        said = f"{component.name} {reason}" + (f"; it last logged: {last}" if last else "")
        fields = {"component": component.name, "reason": reason, "log_tail": tail,
                  "log": str(self._stack.log_path(component))}
        if record.quick_failures > self._max_quick_failures:
            record.given_up = True
            log.error("%s. It failed %d times in a row: not restarting it (log: %s)", said, record.quick_failures - 1,
                      self._stack.log_path(component), extra=fields)
            return
        delay = min(self._max_delay, self._first_delay * 2 ** (record.quick_failures - 1))
        record.retry_at = self._clock() + delay
        log.warning("%s. Restarting it in %.0f s", said, delay, extra=fields)

