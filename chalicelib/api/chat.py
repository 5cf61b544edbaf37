"""Chat over REST (the socket has the same actions)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.routing import Call, Router
from chalicelib.api.schemas import Id, PageQuery, Strict, Timestamp
from chalicelib.services.chat import message_view
from chalicelib.wiring import services

router = Router(__name__, tag="chat")


class MessageIn(Strict):
    text: str = Field(min_length=1, max_length=280)
    to_user_id: Id | None = None


class MessageOut(BaseModel):
    id: str
    space_id: str
    sender_id: str
    to_user_id: str | None
    text: str
    created_at: Timestamp


class MessagesPage(BaseModel):
    messages: list[MessageOut]
    next_cursor: str | None


@router.route("POST", "/v1/spaces/{space_id}/messages", summary="Chat to the room, or to one participant",
              body=MessageIn, response=MessageOut, status=201, idempotent=True)
def post_message(call: Call) -> MessageOut:
    message = services().chat.post(call.me, call.params["space_id"], call.body.text, call.body.to_user_id)
    return MessageOut(**message_view(message))


@router.route("GET", "/v1/spaces/{space_id}/messages", summary="Recent chat (with your direct messages)", query=PageQuery,
              response=MessagesPage)
def list_messages(call: Call) -> MessagesPage:
    page = services().chat.history(call.me, call.params["space_id"], call.query.cursor, call.query.limit)
    return MessagesPage(messages=[MessageOut(**message_view(m)) for m in page.messages], next_cursor=page.next_cursor)
