"""Attempt throttling that holds across Lambdas: fixed-window counters in DynamoDB.

An attempt is counted *before* the work it guards (verifying a password, creating an
account): one conditional UpdateItem per limit adds one only while the counter is below
its limit, so parallel requests cannot all slip in between a read and a write. When a
limit is spent the caller gets 429 with the seconds until that window ends, and the
counters already taken for the same request are given back. Work that turns out not to
count (a sign-in with the right password) gives its attempts back too. Single-item
conditional updates, not a transaction: under a burst on one counter, transactions
would cancel each other (TransactionConflict) where updates simply queue.

The window is part of the counter's key and is computed from the injected clock, so a
new window starts at zero; DynamoDB's TTL only deletes old counters, late.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import TooManyAttempts
from chalicelib.models.attempts import AttemptCounterModel


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` of ``kind`` per subject in each window of ``window_seconds``."""

    kind: str
    attempts: int
    window_seconds: int


@dataclass(frozen=True)
class Charge:
    """One attempt counted against a limit, for one subject, in one window."""

    limit: Limit
    subject: str
    window_start: int

    @property
    def key(self) -> str:
        return AttemptCounterModel.key_for(self.limit.kind, self.subject, self.window_start)

    @property
    def window_end(self) -> int:
        return self.window_start + self.limit.window_seconds


class Throttle:
    def __init__(self, clock: Clock):
        self._clock = clock

    def take(self, *wanted: tuple[Limit, str], message: str | None = None) -> tuple[Charge, ...]:
        """Count one attempt against each (limit, subject), or none: 429 ``too_many_attempts``
        with Retry-After when one of them is spent for the current window."""
        now = self._clock.now().timestamp()
        taken: list[Charge] = []
        for limit, subject in wanted:
            charge = Charge(limit, subject, int(now) - int(now) % limit.window_seconds)
            below_limit = AttemptCounterModel.attempts.does_not_exist() | (AttemptCounterModel.attempts < limit.attempts)
            try:
                AttemptCounterModel(key=charge.key).update(
                    actions=[AttemptCounterModel.attempts.add(1),
                             AttemptCounterModel.expires_at.set(datetime.fromtimestamp(charge.window_end, UTC))],
                    condition=below_limit)
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
                self.give_back(tuple(taken))
                raise TooManyAttempts(message, retry_after=max(math.ceil(charge.window_end - now), 1)) from exc
            taken.append(charge)
        return tuple(taken)

    def give_back(self, charges: tuple[Charge, ...]) -> None:
        """Un-count attempts that turned out not to count (in the windows they were counted in)."""
        for charge in charges:
            AttemptCounterModel(key=charge.key).update(actions=[AttemptCounterModel.attempts.add(-1)])
