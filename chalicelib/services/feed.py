"""The purple circles: live spaces with someone I follow on stage, most listeners first.

Reads scale with how many people I follow, not with how many spaces are live: page
through my follows, BatchGet their on-stage records (100 keys a request), then BatchGet
the few spaces found. Nothing is written per follower when someone goes on stage. Only the
stage shows: a listener (incognito or not) never puts a space in anyone's circles. The spaces
of people who block me are left out.
"""

from __future__ import annotations

from itertools import islice

from chalicelib.models.pagination import page_sorted
from chalicelib.models.participants import OnStageModel
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.services.social import SocialGraph

_BATCH = 100  # DynamoDB BatchGetItem limit
_RANK_CEILING = 10**15


class LiveFeed:
    def __init__(self, social: SocialGraph, following_limit: int):
        self._social = social
        self._following_limit = following_limit

    def live_spaces(self, user_id: str, cursor: str | None, limit: int) -> tuple[list[SpaceModel], str | None]:
        """A page of the feed, most listeners first. The feed is assembled whole (it is bounded
        by how many people one follows), then paged: the cursor holds the last space's place
        (its listeners then, and id), so counts moving between pages neither repeat nor skip much."""
        followees = self._social.followee_ids(user_id, self._following_limit)
        space_ids: set[str] = set()
        while batch := list(islice(followees, _BATCH)):
            for record in OnStageModel.batch_get(batch):
                space_ids.update(record.space_ids or ())
        spaces = [s for s in SpaceModel.batch_get(list(space_ids)) if s.state == LIVE] if space_ids else []
        if spaces:
            blockers = self._social.blocker_ids(user_id)
            spaces = [s for s in spaces if s.creator_id not in blockers]
        return page_sorted(spaces, _most_listeners_first, ("rank", "space_id"), cursor, limit)


def _most_listeners_first(space: SpaceModel) -> tuple[str, str]:
    # Fewer listeners sort later; zero-padded so the strings order as the numbers do.
    return f"{_RANK_CEILING - int(space.listener_count):016d}", space.space_id
