"""Finding spaces: by state and/or creator, with a case-insensitive title filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.spaces import LIVE, SpaceModel


@dataclass(frozen=True)
class SpacePage:
    spaces: list[SpaceModel]
    next_cursor: str | None


class SpaceSearch:
    def spaces(self, state: str | None, creator_id: str | None, query: str | None, cursor: str | None,
               limit: int) -> SpacePage:
        """Newest first; without a creator, one state (live by default) through its index."""
        condition: Any = SpaceModel.title_lower.contains(query.lower()) if query else None
        if creator_id:
            start = decode_cursor(cursor, SpaceModel.by_creator)
            if state:
                condition = (SpaceModel.state == state) & condition if condition is not None else SpaceModel.state == state
            result = SpaceModel.by_creator.query(creator_id, filter_condition=condition, scan_index_forward=False,
                                                 limit=limit, last_evaluated_key=start)
        else:
            start = decode_cursor(cursor, SpaceModel.by_state)
            result = SpaceModel.by_state.query(state or LIVE, filter_condition=condition, scan_index_forward=False,
                                               limit=limit, last_evaluated_key=start)
        spaces = list(result)
        return SpacePage(spaces, encode_cursor(result.last_evaluated_key))
