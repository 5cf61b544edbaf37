"""The worker's background tasks, watched. A task that crashes is logged with its traceback
and started again after a short pause that doubles with each crash; one that keeps crashing
stops the worker, which then exits non-zero so the API replaces it, rather than serve a
room whose mix (or heartbeat) no longer runs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Awaitable, Callable

log = logging.getLogger("media_worker.supervisor")


class Supervisor:
    def __init__(self, stop: asyncio.Event, max_restarts: int = 5, window_seconds: float = 60.0,
                 first_delay: float = 0.1, max_delay: float = 2.0):
        self.failed: str | None = None  # the task that crashed more than max_restarts times within the window
        self.restarts: dict[str, int] = {}
        self._stop = stop
        self._max_restarts = max_restarts
        self._window = window_seconds
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` until it returns (it should when the worker stops), restarting it when it raises."""
        self.restarts[name] = 0
        self._tasks[name] = asyncio.ensure_future(self._keep(name, run))

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        crashes: deque[float] = deque()
        while not self._stop.is_set():
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                now = time.monotonic()
                crashes.append(now)
                while now - crashes[0] > self._window:
                    crashes.popleft()
                if len(crashes) > self._max_restarts:
                    log.critical("a background task keeps crashing: stopping the worker",
                                 extra={"task": name, "crashes": len(crashes), "window_seconds": self._window},
                                 exc_info=True)
                    self.failed = name
                    self._stop.set()
                    return
                delay = min(self._max_delay, self._first_delay * 2 ** (len(crashes) - 1))
                log.error("a background task crashed: restarting it",
                          extra={"task": name, "restart_in_seconds": delay}, exc_info=True)
                self.restarts[name] += 1
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
