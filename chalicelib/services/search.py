"""Finding spaces, as the X API v2 does: look up by ids, list by creators, or by state;
filtered by topic, language and a case-insensitive piece of the title.

Lists are newest first (space ids are ULIDs) and their cursor is the id of the last space
sent: the next page reads ids below it. That one form of cursor lets a page merge several
creators' spaces (one index query each) and stays valid whichever creator it ended on.

Whoever a space's creator blocks does not find it: not in a list, not by its id (404, as if it
did not exist). The filter is in the query, so pages stay full.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from itertools import islice
from typing import Any

from chalicelib.errors import SpaceNotFound
from chalicelib.models.pagination import decode_cursor_keys, encode_cursor
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.services.social import SocialGraph

# DynamoDB's IN takes at most 100 values: a longer list of blockers is several NOT IN.
_IN_LIMIT = 100


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
    def __init__(self, social: SocialGraph | None = None):
        self._social = social

    def lookup(self, viewer_id: str, space_id: str) -> SpaceModel:
        """A space by id; 404 ``space_not_found`` for someone its creator blocks."""
        space = SpaceModel.lookup(space_id)
        if self._social is not None and viewer_id != space.creator_id and self._social.blocks(space.creator_id, viewer_id):
            raise SpaceNotFound()
        return space

    def by_ids(self, space_ids: list[str], viewer_id: str | None = None) -> list[SpaceModel]:
        """One BatchGetItem (at most 100 ids), in the order asked; an unknown id is simply absent,
        and so is the space of someone who blocks the viewer."""
        found = {s.space_id: s for s in SpaceModel.batch_get(space_ids)} if space_ids else {}
        hidden = self._blockers(viewer_id) if found else set()
        return [found[i] for i in space_ids if i in found and found[i].creator_id not in hidden]

    def spaces(self, where: SpaceFilter, cursor: str | None, limit: int, viewer_id: str | None = None) -> SpacePage:
        """Newest first. By creators: each creator's spaces through ``by_creator`` (in any state
        unless one is named), merged; otherwise one state (live by default) through ``by_state``.
        Spaces whose creator blocks the viewer are left out."""
        start = decode_cursor_keys(cursor, {"space_id"})
        below = start["space_id"]["S"] if start else None
        hidden = self._blockers(viewer_id)
        if where.creator_ids:
            # The index's key cannot be filtered on: the hidden creators are simply not queried.
            condition = _condition(where, by_creator=True)
            runs = [self._newest(SpaceModel.by_creator, creator, below, condition, limit)
                    for creator in where.creator_ids if creator not in hidden]
        else:
            condition = _condition(where, by_creator=False, hidden_creators=tuple(sorted(hidden)))
            runs = [self._newest(SpaceModel.by_state, where.state or LIVE, below, condition, limit)]
        # Each run is newest first and holds up to limit + 1 spaces, so more than `limit` in
        # all means a next page exists, and its first space is below the last one sent.
        merged = list(islice(heapq.merge(*runs, key=lambda s: s.space_id, reverse=True), limit + 1))
        page = merged[:limit]
        more = len(merged) > limit
        return SpacePage(page, encode_cursor({"space_id": {"S": page[-1].space_id}}) if more else None)

    def _blockers(self, viewer_id: str | None) -> set[str]:
        return self._social.blocker_ids(viewer_id) if self._social is not None and viewer_id else set()

    @staticmethod
    def _newest(index: Any, partition: str, below: str | None, condition: Any, limit: int) -> list[SpaceModel]:
        return list(index.query(partition, range_key_condition=SpaceModel.space_id < below if below else None,
                                filter_condition=condition, scan_index_forward=False, limit=limit + 1))


def _condition(where: SpaceFilter, by_creator: bool, hidden_creators: tuple[str, ...] = ()) -> Any:
    parts: list[Any] = [~SpaceModel.creator_id.is_in(*hidden_creators[i:i + _IN_LIMIT])
                        for i in range(0, len(hidden_creators), _IN_LIMIT)]
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
