"""An injectable clock, so time-based rules are testable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests, simulations)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at


def timestamp(at: datetime | None) -> str | None:
    """The one way clients see a time, over REST and WebSocket alike: RFC 3339 in UTC with a Z,
    to the millisecond (``2026-11-30T12:00:00.123Z``)."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(at: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second: times kept inside Parlor (sort keys, queued jobs,
    worker records), whose stored form must not change. Clients see ``timestamp``."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def millis(at: datetime) -> int:
    """Unix milliseconds: how the API stamps its decisions for the media worker to order them."""
    return int(at.timestamp() * 1000)
