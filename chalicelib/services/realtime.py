"""The realtime socket: who may connect, and what a client may send over it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import Conflict, DomainError, Forbidden, Unauthorized, ValidationFailed
from chalicelib.gateways.realtime import ConnectionDirectory, RealtimeGateway
from chalicelib.models.connections import ConnectionModel
from chalicelib.models.spent_tokens import SpentTokenModel
from chalicelib.services.chat import ChatService
from chalicelib.services.membership import Membership
from chalicelib.services.tokens import RoomTokens


class RealtimeService:
    def __init__(self, tokens: RoomTokens, membership: Membership, directory: ConnectionDirectory, chat: ChatService,
                 gateway: RealtimeGateway | None, max_sockets_per_person: int = 3):
        self._tokens = tokens
        self._membership = membership
        self._directory = directory
        self._chat = chat
        self._gateway = gateway
        self._max_sockets = max(1, max_sockets_per_person)

    def connect(self, connection_id: str, token: str | None) -> None:
        """A socket opens with the realtime token from ``join``; only people in the room connect.
        A token opens one socket (a client that reconnects joins again for a fresh one), and a
        person keeps at most a few sockets in a space: a new one closes the oldest beyond that."""
        if not token:
            raise Unauthorized("A realtime token is required.", code="missing_token")
        claims = self._tokens.verify_realtime(token)
        space_id, user_id = str(claims["space_id"]), str(claims["sub"])
        participant = self._membership.find(space_id, user_id)
        if participant is None or not participant.present:
            raise Forbidden("You are not in this space.", code="not_in_space")
        if not SpentTokenModel.spend(f"realtime#{claims['jti']}", datetime.fromtimestamp(int(claims["exp"]), UTC)):
            raise Unauthorized("This realtime token was already used; join again for a fresh one.", code="token_used")
        added = self._directory.add(connection_id, space_id, user_id, participant.role)
        self._keep_newest(added)

    def _keep_newest(self, added: ConnectionModel) -> None:
        """Close the person's sockets in the space beyond the newest few. Each connect does this
        after registering its own socket, in one order all agree on (connect time, then id): no
        connect closes one of the overall newest, and the last to look leaves exactly the newest
        few. The by-user index may lag a moment behind a write: what it misses now, the next
        connect closes."""
        mine = self._directory.of_person(added.space_id, added.user_id)
        if added.connection_id not in {c.connection_id for c in mine}:
            mine = sorted([*mine, added], key=lambda c: (c.connected_at, c.connection_id))
        excess = [c.connection_id for c in mine[:max(0, len(mine) - self._max_sockets)]]
        older = [cid for cid in excess if cid != added.connection_id]
        if self._gateway is not None:
            self._gateway.close(older)
        else:
            for cid in older:
                self._directory.remove(cid)
        if added.connection_id in excess:  # newer sockets of the same person opened meanwhile
            self._directory.remove(added.connection_id)
            raise Conflict("You have too many sockets open in this space.", code="too_many_sockets")

    def disconnect(self, connection_id: str) -> None:
        self._directory.remove(connection_id)

    def receive(self, connection_id: str, body: str) -> None:
        """Handle one client frame; problems are answered on the socket as an error event."""
        connection = self._directory.get(connection_id)
        if connection is None:
            return
        try:
            self._dispatch(connection.space_id, connection.user_id, _parse(body), connection_id)
        except DomainError as exc:
            self._send(connection_id, {"type": "error", "space_id": connection.space_id,
                                       "data": {"code": exc.code, "message": exc.message}})

    def _dispatch(self, space_id: str, user_id: str, frame: dict[str, Any], connection_id: str) -> None:
        action = frame.get("action")
        if action == "ping":
            self._send(connection_id, {"type": "pong", "space_id": space_id, "data": {}})
        elif action == "message":
            text, to_user_id = frame.get("text"), frame.get("to_user_id")
            if not isinstance(text, str) or (to_user_id is not None and not isinstance(to_user_id, str)):
                raise ValidationFailed("A message needs text (and an optional to_user_id).")
            self._chat.post(user_id, space_id, text, to_user_id)
        elif action == "reaction":
            emoji = frame.get("emoji")
            if not isinstance(emoji, str):
                raise ValidationFailed("A reaction needs an emoji.")
            self._chat.react(user_id, space_id, emoji)
        else:
            raise ValidationFailed("Unknown action; use message, reaction or ping.", code="unknown_action")

    def _send(self, connection_id: str, payload: dict[str, Any]) -> None:
        if self._gateway is not None:
            self._gateway.send(connection_id, payload)


def _parse(body: str) -> dict[str, Any]:
    try:
        frame = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed("Frames are JSON objects.", code="bad_frame") from exc
    if not isinstance(frame, dict):
        raise ValidationFailed("Frames are JSON objects.", code="bad_frame")
    return frame
