"""Finding spaces, as the X API v2 does: look up by ids, list by creators, or by state;
filtered by topic, language and a case-insensitive piece of the title.

Lists are newest first (space ids are ULIDs) and their cursor is the id of the last space
sent: the next page reads ids below it. That one form of cursor lets a page merge several
creators' spaces (one index query each) and stays valid whichever creator it ended on.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from itertools import islice
from typing import Any

from chalicelib.models.pagination import decode_cursor_keys, encode_cursor
from chalicelib.models.spaces import LIVE, SpaceModel


@dataclass(frozen=True)
class SpacePage:
    spaces: list[SpaceModel]
    next_cursor: str | None


@dataclass(frozen=True)
class SpaceFilter:
    state: str | None = None
    creator_ids: tuple[str, ...] = ()
    topic: str | None = None
    lang: str | None = None
    title_contains: str | None = None


class SpaceSearch:
    def by_ids(self, space_ids: list[str]) -> list[SpaceModel]:
        """One BatchGetItem (at most 100 ids), in the order asked; an unknown id is simply absent."""
        found = {s.space_id: s for s in SpaceModel.batch_get(space_ids)} if space_ids else {}
        return [found[i] for i in space_ids if i in found]

    def spaces(self, where: SpaceFilter, cursor: str | None, limit: int) -> SpacePage:
        """Newest first. By creators: each creator's spaces through ``by_creator`` (in any state
        unless one is named), merged; otherwise one state (live by default) through ``by_state``."""
        start = decode_cursor_keys(cursor, {"space_id"})
        below = start["space_id"]["S"] if start else None
        condition = _condition(where, by_creator=bool(where.creator_ids))
        if where.creator_ids:
            runs = [self._newest(SpaceModel.by_creator, creator, below, condition, limit) for creator in where.creator_ids]
        else:
            runs = [self._newest(SpaceModel.by_state, where.state or LIVE, below, condition, limit)]
        # Each run is newest first and holds up to limit + 1 spaces, so more than `limit` in
        # all means a next page exists, and its first space is below the last one sent.
        merged = list(islice(heapq.merge(*runs, key=lambda s: s.space_id, reverse=True), limit + 1))
        page = merged[:limit]
        more = len(merged) > limit
        return SpacePage(page, encode_cursor({"space_id": {"S": page[-1].space_id}}) if more else None)

    @staticmethod
    def _newest(index: Any, partition: str, below: str | None, condition: Any, limit: int) -> list[SpaceModel]:
        return list(index.query(partition, range_key_condition=SpaceModel.space_id < below if below else None,
                                filter_condition=condition, scan_index_forward=False, limit=limit + 1))


def _condition(where: SpaceFilter, by_creator: bool) -> Any:
    parts: list[Any] = []
    if by_creator and where.state:
        parts.append(SpaceModel.state == where.state)
    if where.topic:
        parts.append(SpaceModel.topic_ids.contains(where.topic))
    if where.lang:
        parts.append(SpaceModel.lang == where.lang)
    if where.title_contains:
        parts.append(SpaceModel.title_lower.contains(where.title_contains.lower()))
    condition = None
    for part in parts:
        condition = part if condition is None else condition & part
    return condition
