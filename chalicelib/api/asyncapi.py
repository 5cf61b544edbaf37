"""``GET /asyncapi.json``: the realtime channel (the WebSocket) as an AsyncAPI 2.6 document.

Every server → client event and every client action is a pydantic model declared here, once;
the document is generated from them, as ``/openapi.json`` is from the routes. The services
publish plain dicts (``chalicelib/events.py``), so the tests hold them to these models: every
event published anywhere in the test suite is checked against this document
(``tests/fakes.RecordingPublisher``), and ``tests/contract/test_asyncapi.py`` drives a room
through every event type and validates the document against the official AsyncAPI schema.

Event data models forbid unknown fields: a field added to an event without being documented
here fails the tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.routing import Call, Router

router = Router(__name__, tag="meta")

Role = Literal["host", "cohost", "speaker", "listener"]
Reaction = Literal["👏", "❤️", "😂", "🔥", "💯", "🙌", "👋", "😮"]  # chalicelib/services/chat.py REACTIONS


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- server → client: each event's ``data`` ------------------------------------------------


class ParticipantJoined(EventData):
    """Someone entered the room (a rejoin, to reconnect, announces nothing). An incognito
    listener's arrival (and their ``participant.left`` and ``participant.removed``) reaches only
    the host, the co-hosts and themselves."""

    user_id: str
    role: Role
    incognito: bool = False


class ParticipantLeft(EventData):
    user_id: str


class ParticipantRoleChanged(EventData):
    """A hand approved, an invitation, a demotion, a co-host named. After it, that person
    offers media again (``POST /v1/spaces/{space_id}/media/offer``)."""

    user_id: str
    from_role: Role = Field(alias="from")
    role: Role


class ParticipantMuted(EventData):
    user_id: str
    by: str = Field(description="who muted them (a host, or themselves)")


class ParticipantUnmuted(EventData):
    user_id: str


class ParticipantRemoved(EventData):
    """The removed person's sockets close after this reaches them."""

    user_id: str
    banned: bool


class SpeakRequestCreated(EventData):
    """A raised hand; sent to the host and co-hosts only."""

    user_id: str


class MessageCreated(EventData):
    """Chat to the room, or a direct message (sent to its two parties only)."""

    id: str
    space_id: str
    sender_id: str
    to_user_id: str | None
    text: str
    created_at: str = Field(description="RFC 3339 UTC")


class ReactionCreated(EventData):
    user_id: str
    emoji: Reaction


class SpeakerLevel(EventData):
    user_id: str
    level: float = Field(ge=0.0, le=1.0)


class Speaking(EventData):
    """Who is talking now, from the room's media worker (audio levels)."""

    speakers: list[SpeakerLevel]


class PinnedMessageData(EventData):
    id: str
    sender_id: str
    text: str
    created_at: str | None = Field(description="RFC 3339 UTC")


class PinnedData(EventData):
    """What is pinned: a room message (``message``) or a link (``url``), as the space object's ``pinned``."""

    kind: Literal["message", "url"]
    message: PinnedMessageData | None
    url: str | None
    pinned_by: str
    pinned_at: str = Field(description="RFC 3339 UTC")


class SpaceUpdated(EventData):
    """A change of the space: only the fields that changed are present."""

    space_id: str
    state: Literal["scheduled", "live", "ended", "canceled"] | None = None
    title: str | None = None
    topic_ids: list[str] | None = None
    acting_host_id: str | None = Field(default=None, description="who holds host powers now; null: nobody")
    recording: bool | None = Field(default=None, description="the space records (show the indicator); replay after the end")
    clipping: bool | None = Field(default=None, description="participants may clip it")
    pinned: PinnedData | None = Field(default=None, description="the new pin (PUT .../pin); null when taken down")


class SpaceEnded(EventData):
    """The end: every socket of the space closes after this."""

    space_id: str
    ended_at: str = Field(description="ISO 8601 UTC")


class NotificationCreated(EventData):
    """An item of the recipient's inbox (as ``GET /v1/me/notifications`` lists it), on their sockets."""

    id: str
    kind: str
    space_id: str
    title: str
    body: str
    read: bool
    created_at: str | None
    data: dict[str, Any]


class MediaRestarted(EventData):
    """The room's media worker was replaced: join again and offer again."""

    reason: Literal["worker_exited", "worker_closed", "worker_silent"]


class ErrorData(EventData):
    """A client frame refused, answered on the socket that sent it."""

    code: str
    message: str


class Pong(EventData):
    """The answer to ``ping``."""


SERVER_EVENTS: dict[str, type[EventData]] = {
    "participant.joined": ParticipantJoined,
    "participant.left": ParticipantLeft,
    "participant.role_changed": ParticipantRoleChanged,
    "participant.muted": ParticipantMuted,
    "participant.unmuted": ParticipantUnmuted,
    "participant.removed": ParticipantRemoved,
    "speak_request.created": SpeakRequestCreated,
    "message.created": MessageCreated,
    "reaction.created": ReactionCreated,
    "speaking": Speaking,
    "space.updated": SpaceUpdated,
    "space.ended": SpaceEnded,
    "notification.created": NotificationCreated,
    "media.restarted": MediaRestarted,
    "error": ErrorData,
    "pong": Pong,
}
# Answers to one socket's frame carry no time (``chalicelib/services/realtime.py``).
_UNTIMED = {"error", "pong"}


# -- client → server ------------------------------------------------------------------------


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageAction(Action):
    """Chat, as ``POST /v1/spaces/{space_id}/messages``."""

    action: Literal["message"]
    text: str = Field(min_length=1, max_length=280)
    to_user_id: str | None = Field(default=None, description="a direct message to one participant")


class ReactionAction(Action):
    action: Literal["reaction"]
    emoji: Reaction


class PingAction(Action):
    """Answered by ``pong``; keeps an idle socket open."""

    action: Literal["ping"]


CLIENT_ACTIONS: dict[str, type[Action]] = {"message": MessageAction, "reaction": ReactionAction, "ping": PingAction}

_REF = "#/components/schemas/{model}"


def build_document(server_url: str = "wss://realtime.example.com") -> dict[str, Any]:
    """The AsyncAPI 2.6 document. In AsyncAPI 2 terms the channel is described from the
    client's side: it ``subscribe``s to the server's events and ``publish``es its actions."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for kind, model in SERVER_EVENTS.items():
        name = _message_name(kind)
        messages[name] = {"name": kind, "title": kind, "summary": _summary(model), "contentType": "application/json",
                          "payload": _envelope(kind, _schema_ref(model, schemas))}
    for action, action_model in CLIENT_ACTIONS.items():
        name = f"{action.capitalize()}Action"
        messages[name] = {"name": action, "title": f"{action} (client)", "summary": _summary(action_model),
                          "contentType": "application/json", "payload": _schema_ref(action_model, schemas)}
    return {
        "asyncapi": "2.6.0",
        "id": "urn:parlor:realtime",
        "info": {
            "title": "Parlor realtime",
            "version": "1.0.0",
            "description": (
                "The WebSocket of a live space. Join with `POST /v1/spaces/{space_id}/join` (REST, see /openapi.json): "
                "its `realtime` is `{url, token}`; connect to `url?token=...` (a token opens one socket: to reconnect, "
                "join again). Audio is WebRTC: POST your SDP offer to the join's `media.offer_url` "
                "(`POST /v1/spaces/{space_id}/media/offer`, REST) and the room's answer comes back; offer again after "
                "`participant.role_changed` about you and after `media.restarted`."),
        },
        "servers": {"realtime": {"url": server_url, "protocol": server_url.partition(":")[0] or "wss",
                                 "description": "The `realtime.url` that joining a space returns.",
                                 "security": [{"realtimeToken": []}]}},
        "defaultContentType": "application/json",
        "channels": {
            "/": {
                "description": "One socket per joined space (up to 3 per person).",
                "bindings": {"ws": {"query": {"type": "object", "required": ["token"],
                                              "properties": {"token": {"type": "string",
                                                                       "description": "the join's realtime token"}}}}},
                "subscribe": {"operationId": "receiveEvents", "summary": "Events of the space, as they happen",
                              "message": {"oneOf": [{"$ref": f"#/components/messages/{_message_name(k)}"}
                                                    for k in SERVER_EVENTS]}},
                "publish": {"operationId": "sendAction", "summary": "Chat, react, ping",
                            "message": {"oneOf": [{"$ref": f"#/components/messages/{a.capitalize()}Action"}
                                                  for a in CLIENT_ACTIONS]}},
            }
        },
        "components": {
            "messages": messages,
            "schemas": schemas,
            "securitySchemes": {"realtimeToken": {"type": "httpApiKey", "name": "token", "in": "query",
                                                  "description": "the `realtime.token` of the join"}},
        },
        "externalDocs": {"description": "The REST API (join, media offer): /openapi.json", "url": "/openapi.json"},
    }


def _message_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.replace(".", "_").split("_")) + "Event"


def _summary(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or model.__name__).split())


def _envelope(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{"type", "space_id", "at", "data"}``, as every event travels (``RoomEvent.wire``)."""
    properties: dict[str, Any] = {
        "type": {"type": "string", "const": kind},
        "space_id": {"type": "string", "description": "empty for a notification, which is about the user"},
        "data": data,
    }
    if kind not in _UNTIMED:
        properties["at"] = {"type": "string", "format": "date-time"}
    return {"type": "object", "required": ["type", "space_id", "data", *(["at"] if kind not in _UNTIMED else [])],
            "additionalProperties": False, "properties": properties}


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF, by_alias=True)
    for name, component in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
        if schemas.setdefault(name, component) != component:
            raise ValueError(f"two different schemas are named {name!r}: rename one of the models")
    return {"$ref": _REF.format(model=model.__name__)}


@router.route("GET", "/asyncapi.json", summary="The realtime channel's AsyncAPI document", auth=False)
def asyncapi(call: Call) -> dict[str, Any]:
    from chalicelib.wiring import services

    return build_document(services().settings.realtime_url)
