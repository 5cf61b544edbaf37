"""The purple circles: live spaces with someone I follow on stage, most listeners first.

Reads scale with how many people I follow, not with how many spaces are live: page
through my follows, BatchGet their on-stage records (100 keys a request), then BatchGet
the few spaces found. Nothing is written per follower when someone goes on stage.
"""

from __future__ import annotations

from itertools import islice

from chalicelib.models.participants import OnStageModel
from chalicelib.models.spaces import LIVE, SpaceModel
from chalicelib.services.social import SocialGraph

_BATCH = 100  # DynamoDB BatchGetItem limit


class LiveFeed:
    def __init__(self, social: SocialGraph, following_limit: int):
        self._social = social
        self._following_limit = following_limit

    def live_spaces(self, user_id: str) -> list[SpaceModel]:
        followees = self._social.followee_ids(user_id, self._following_limit)
        space_ids: set[str] = set()
        while batch := list(islice(followees, _BATCH)):
            for record in OnStageModel.batch_get(batch):
                space_ids.update(record.space_ids or ())
        spaces = [s for s in SpaceModel.batch_get(list(space_ids)) if s.state == LIVE] if space_ids else []
        return sorted(spaces, key=lambda s: (-int(s.listener_count), s.space_id))
