"""Trending: live spaces beyond my follows, ranked by listeners and how fast they grow.

    score = listeners now + GROWTH_WEIGHT x max(0, listeners now - listeners ~5 minutes ago)

The count of ~5 minutes ago comes from ``listener_samples`` on the space: the scheduled
tick (each minute, ``chalicelib/api/jobs.py``) appends the current count and keeps the last
``SAMPLES``. A space younger than its first sample grew from nobody (it went live empty).
Shrinking costs nothing beyond the lost listeners: a fading big room still outranks a small
one, and a small room that doubles can pass a bigger, steady one.

A page is assembled from every live space (up to ``MAX_LIVE_READ``, one index query with the
topic and language filters) and ranked in the request, as the live feed is; at a scale where
that read is too big, the tick would write the ranking to its own index instead.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from pynamodb.exceptions import UpdateError

from chalicelib.models.pagination import page_sorted
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.models.tickets import PAID, TicketModel

SAMPLES = 5  # one a minute: growth is measured over about 5 minutes
GROWTH_WEIGHT = 2
MAX_LIVE_READ = 2000
_RANK_CEILING = 10**15
_BATCH = 100  # DynamoDB BatchGetItem limit

# Issue 19 (safety) hook: the host ids the caller must not see (blocked either way). Wire it
# in ``wiring.py``; trending drops every space whose creator or co-host is in the returned set.
HiddenHosts = Callable[[str], set[str]]


def growth(space: SpaceModel) -> int:
    """Listeners gained since the oldest sample kept (from nobody, before the first sample)."""
    samples = list(space.listener_samples or [])
    before = int(samples[0]) if samples else 0
    return int(space.listener_count) - before


def trend_score(space: SpaceModel) -> int:
    return int(space.listener_count) + GROWTH_WEIGHT * max(0, growth(space))


class Trending:
    def __init__(self, hidden_hosts: HiddenHosts | None = None):
        self.hidden_hosts = hidden_hosts

    def spaces(self, user_id: str, topic: str | None, lang: str | None, cursor: str | None,
               limit: int) -> tuple[list[SpaceModel], str | None]:
        """Live spaces, highest score first, filtered by topic and language, without the
        ticketed spaces the caller cannot join (no paid ticket, not a host, co-host or
        invited guest) and without hosts hidden from the caller (blocks)."""
        condition: Any = None
        if topic:
            condition = SpaceModel.topic_ids.contains(topic)
        if lang:
            condition = SpaceModel.lang == lang if condition is None else condition & (SpaceModel.lang == lang)
        live = list(SpaceModel.by_state.query(LIVE, filter_condition=condition, limit=MAX_LIVE_READ))
        visible = self._joinable(user_id, live)
        if self.hidden_hosts is not None:
            hidden = self.hidden_hosts(user_id)
            visible = [s for s in visible if hidden.isdisjoint(s.host_ids)]
        return page_sorted(visible, _highest_score_first, ("rank", "space_id"), cursor, limit)

    def take_samples(self) -> int:
        """The tick: append each live space's listener count to its samples (keeping the last
        ``SAMPLES``). Only while it is live, so an ended space is not written again."""
        sampled = 0
        for space in SpaceModel.by_state.query(LIVE):
            samples = [*list(space.listener_samples or []), int(space.listener_count)][-SAMPLES:]
            try:
                space.update(actions=[SpaceModel.listener_samples.set(samples)], condition=SpaceModel.state == LIVE)
                sampled += 1
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        return sampled

    @staticmethod
    def _joinable(user_id: str, spaces: Iterable[SpaceModel]) -> list[SpaceModel]:
        spaces = list(spaces)
        ask = [s.space_id for s in spaces
               if s.is_ticketed and user_id not in s.host_ids and user_id not in (s.invited_user_ids or ())]
        paid: set[str] = set()
        for start in range(0, len(ask), _BATCH):
            keys = [(space_id, user_id) for space_id in ask[start:start + _BATCH]]
            paid.update(t.space_id for t in TicketModel.batch_get(keys) if t.status == PAID)
        refused = set(ask) - paid
        return [s for s in spaces if s.space_id not in refused]


def _highest_score_first(space: SpaceModel) -> tuple[str, str]:
    # Zero-padded so the strings order as the numbers do; the cursor keeps the place.
    return f"{_RANK_CEILING - trend_score(space):016d}", space.space_id
