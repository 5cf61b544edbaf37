"""Chat in a space: messages to the room or to one participant, reactions, history.

Only people present in a live space may post; muted speakers may not. One message per
second per user (a conditional write on the last send time, so it holds across Lambdas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.clock import Clock
from chalicelib.errors import Banned, Blocked, Muted, NotFound, NotParticipant, RateLimited, ValidationFailed
from chalicelib.events import EVERYONE, USERS, EventPublisher, RoomEvent
from chalicelib.ids import new_id
from chalicelib.models.messages import ChatThrottleModel, MessageModel
from chalicelib.models.pagination import decode_cursor, encode_cursor
from chalicelib.models.participants import BANNED, ParticipantModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.services.membership import Membership
from chalicelib.services.social import SocialGraph
from chalicelib.text import clean_message

MAX_TEXT = 280
REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙌", "👋", "😮")
_INTERVAL = {"message": timedelta(seconds=1), "reaction": timedelta(milliseconds=200)}


@dataclass(frozen=True)
class HistoryPage:
    messages: list[MessageModel]
    next_cursor: str | None


class ChatService:
    def __init__(self, clock: Clock, membership: Membership, events: EventPublisher,
                 social: SocialGraph | None = None):
        self._clock = clock
        self._social = social  # blocks: no direct message between two people when one blocks the other
        self._membership = membership
        self._events = events

    def post(self, sender_id: str, space_id: str, text: str, to_user_id: str | None = None) -> MessageModel:
        """Post to the room, or to one participant (only the two of them see it; not when either
        blocks the other: 403 ``blocked``)."""
        text = clean_message(text, "text", MAX_TEXT)  # NFC; no bidi overrides or control characters
        sender = self._speaking_participant(space_id, sender_id)
        if sender.muted:
            raise Muted("Muted speakers cannot post.")
        if to_user_id is not None:
            recipient = self._membership.find(space_id, to_user_id)
            if recipient is None or not recipient.present or to_user_id == sender_id:
                raise NotFound("That person is not in the space.", code="recipient_not_in_space")
            if self._social is not None and self._social.either_blocks(sender_id, to_user_id):
                raise Blocked("You cannot message that person: one of you blocks the other.")
        self._throttle(space_id, sender_id, "message")
        now = self._clock.now()
        message = MessageModel(space_id=space_id, message_id=new_id(now), sender_id=sender_id, to_user_id=to_user_id,
                               text=text, created_at=now)
        message.save()
        data = message_view(message)
        if to_user_id is None:
            self._events.publish(RoomEvent("message.created", space_id, now, data, audience=EVERYONE))
        else:
            self._events.publish(RoomEvent("message.created", space_id, now, data, audience=USERS,
                                           user_ids=(sender_id, to_user_id)))
        return message

    def react(self, sender_id: str, space_id: str, emoji: str) -> None:
        if emoji not in REACTIONS:
            raise ValidationFailed(f"Reactions are one of {' '.join(REACTIONS)}.", code="invalid_reaction")
        self._speaking_participant(space_id, sender_id)
        self._throttle(space_id, sender_id, "reaction")
        self._events.publish(RoomEvent("reaction.created", space_id, self._clock.now(),
                                       {"user_id": sender_id, "emoji": emoji}))

    def history(self, user_id: str, space_id: str, cursor: str | None, limit: int) -> HistoryPage:
        """Recent room messages, newest first, with the direct messages the caller is party to."""
        SpaceModel.lookup(space_id)
        participant = self._membership.find(space_id, user_id)
        if participant is None:
            raise NotParticipant("Join the space to read its chat.")
        if participant.status == BANNED:
            raise Banned()
        mine = (MessageModel.to_user_id.does_not_exist() | (MessageModel.to_user_id == user_id)
                | (MessageModel.sender_id == user_id))
        result = MessageModel.query(space_id, filter_condition=mine, scan_index_forward=False, limit=limit,
                                    last_evaluated_key=decode_cursor(cursor, MessageModel))
        messages = list(result)
        return HistoryPage(messages, encode_cursor(result.last_evaluated_key))

    def _speaking_participant(self, space_id: str, user_id: str) -> ParticipantModel:
        return self._membership.require_present(SpaceModel.lookup(space_id), user_id, NotParticipant("Join the space to chat in it."))

    def _throttle(self, space_id: str, user_id: str, kind: str) -> None:
        now = self._clock.now()
        record = ChatThrottleModel(key=ChatThrottleModel.key_for(space_id, user_id, kind))
        try:
            record.update(actions=[ChatThrottleModel.last_at.set(now), ChatThrottleModel.expires_at.set(now + timedelta(hours=1))],
                          condition=ChatThrottleModel.key.does_not_exist() | (ChatThrottleModel.last_at <= now - _INTERVAL[kind]))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise RateLimited(f"Slow down: one {kind} per {_INTERVAL[kind].total_seconds():g} s.",
                                  retry_after=max(math.ceil(_INTERVAL[kind].total_seconds()), 1)) from exc
            raise


def message_view(message: MessageModel) -> dict[str, Any]:
    from chalicelib.clock import timestamp

    return {"id": message.message_id, "space_id": message.space_id, "sender_id": message.sender_id,
            "to_user_id": message.to_user_id, "text": message.text, "created_at": timestamp(message.created_at)}
