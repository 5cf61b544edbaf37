"""The realtime socket (API Gateway WebSocket API) and the fan-out queue handler.

Chalice wires WebSocket handlers into Lambda only when they are registered on the app
itself (Lambda finds them as attributes of ``app.py``), so ``app.py`` registers the three
``websocket_*`` functions below; the fan-out handler lives on the blueprint.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Blueprint, Response
from chalice.app import SQSEvent, WebsocketEvent

from chalicelib.errors import DomainError
from chalicelib.logs import logger
from chalicelib.settings import get_settings
from chalicelib.wiring import services

realtime = Blueprint(__name__)


def websocket_connect(event: WebsocketEvent) -> Response | None:
    query = event.to_dict().get("queryStringParameters") or {}
    try:
        services().realtime.connect(event.connection_id, query.get("token"))
    except DomainError as exc:
        logger.info("socket refused", extra={"code": exc.code})
        return Response(body=json.dumps({"error": {"code": exc.code, "message": exc.message}}), status_code=exc.status)
    return None


def websocket_message(event: WebsocketEvent) -> None:
    services().realtime.receive(event.connection_id, event.body)


def websocket_disconnect(event: WebsocketEvent) -> None:
    services().realtime.disconnect(event.connection_id)


@realtime.on_sqs_message(queue=get_settings().queue_name("realtime"), batch_size=10, name="realtime_fanout")
def fanout(event: SQSEvent) -> None:
    """Post one event to a batch of connections (from ``RealtimeGateway.publish``)."""
    gateway = services().realtime_gateway
    for record in event:
        job: dict[str, Any] = json.loads(record.body)
        gateway.deliver(job["payload"], job["connection_ids"])
