"""The realtime socket (API Gateway WebSocket API) and the fan-out queue handler.
``register`` adds them to the app, with the queue name of the deployment's settings."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalice import Chalice, Response
from chalice.app import SQSEvent, WebsocketEvent

from chalicelib.api.batches import each_job
from chalicelib.api.edge import REQUEST_ID_HEADER
from chalicelib.errors import DomainError
from chalicelib.gateways.queues import Queue
from chalicelib.logs import logger
from chalicelib.settings import Settings
from chalicelib.wiring import services


def websocket_connect(event: WebsocketEvent) -> Response | None:
    """Open a socket, or refuse the handshake: the refusal's HTTP status says why in general
    (401 the token: missing, invalid, expired or used — join again; 403 not in the space; 409
    too many sockets) and its JSON body exactly (the error envelope, with the request id). The
    local gateway answers both as they are; what API Gateway passes on is in the README's
    "Realtime"."""
    raw = event.to_dict()
    query = raw.get("queryStringParameters") or {}
    request_id = str((raw.get("requestContext") or {}).get("requestId") or uuid.uuid4())
    logger.append_keys(request_id=request_id)
    try:
        services().realtime.connect(event.connection_id, query.get("token"))
    except DomainError as exc:
        logger.info("socket refused", extra={"code": exc.code, "status": exc.status})
        body = {"error": {"code": exc.code, "message": exc.message, "request_id": request_id}}
        return Response(body=json.dumps(body), status_code=exc.status,
                        headers={"Content-Type": "application/json", REQUEST_ID_HEADER: request_id})
    finally:
        logger.remove_keys(["request_id"])
    return None


def websocket_message(event: WebsocketEvent) -> None:
    services().realtime.receive(event.connection_id, event.body)


def websocket_disconnect(event: WebsocketEvent) -> None:
    services().realtime.disconnect(event.connection_id)


def realtime_fanout(event: SQSEvent) -> dict[str, Any]:
    """Post one event to a batch of connections (from ``RealtimeGateway.publish``), then close those it ends."""
    return each_job(event, services().realtime_gateway.fan_out)


def register(app: Chalice, settings: Settings) -> None:
    # Chalice still labels its WebSocket support experimental; Parlor's realtime channel uses it.
    app.experimental_feature_flags.update(["WEBSOCKETS"])
    app.on_ws_connect()(websocket_connect)
    app.on_ws_message()(websocket_message)
    app.on_ws_disconnect()(websocket_disconnect)
    app.on_sqs_message(queue=settings.queue_name(Queue.REALTIME), batch_size=10, name="realtime_fanout")(realtime_fanout)
