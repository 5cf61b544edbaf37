"""A stand-in for API Gateway's WebSocket API, for the offline stack.

Clients connect to ``ws://host:port/?token=...``; each socket's open, frames and close
become ``$connect`` / ``$default`` / ``$disconnect`` events handed to the Chalice app's own
websocket handlers, shaped as API Gateway shapes them. The management API that boto3's
``apigatewaymanagementapi`` client calls is served at ``/{stage}/@connections/{id}``
(410 GoneException for sockets that are gone, as on AWS).

The handlers are synchronous and post back to this gateway over HTTP, so they run in a
thread pool, never on the event loop (there they would deadlock).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from local import logs

log = logging.getLogger(__name__)


@dataclass
class Socket:
    ws: web.WebSocketResponse
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active_at: float = field(default_factory=time.time)


class Gateway:
    def __init__(self, chalice_app: Any, stage: str = "dev", domain: str = "127.0.0.1", threads: int = 16):
        self._app = chalice_app
        self._stage = stage
        self._domain = domain
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ws-handler")
        self.sockets: dict[str, Socket] = {}

    # -- client sockets -------------------------------------------------------------

    async def accept(self, request: web.Request) -> web.StreamResponse:
        connection_id = secrets.token_urlsafe(12)
        event = self._event("$connect", "CONNECT", connection_id, request)
        event["queryStringParameters"] = dict(request.query) or None
        response = await self._invoke("$connect", event)
        status = int((response or {}).get("statusCode", 200))
        if status >= 300:
            # The upgrade is refused with $connect's answer: its status and its body (the error
            # envelope, which says why), and its headers (X-Request-Id).
            answer = response or {}
            headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
            return web.Response(status=status, body=(answer.get("body") or "").encode(), headers=headers)
        ws = web.WebSocketResponse(heartbeat=15)
        await ws.prepare(request)
        self.sockets[connection_id] = Socket(ws, request.remote or "", request.headers.get("User-Agent", ""))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.sockets[connection_id].last_active_at = time.time()
                    frame = self._event("$default", "MESSAGE", connection_id, request)
                    frame["body"] = msg.data
                    await self._invoke("$default", frame)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            await self._closed(connection_id, request)
        return ws

    async def _closed(self, connection_id: str, request: web.Request) -> None:
        if self.sockets.pop(connection_id, None) is not None:
            await self._invoke("$disconnect", self._event("$disconnect", "DISCONNECT", connection_id, request))

    # -- management API (@connections) ---------------------------------------------

    async def post_to_connection(self, request: web.Request) -> web.Response:
        socket = self.sockets.get(request.match_info["connection_id"])
        if socket is None or socket.ws.closed:
            return _gone()
        data = await request.read()
        try:
            await socket.ws.send_str(data.decode())
        except ConnectionResetError:
            return _gone()
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        socket = self.sockets.get(request.match_info["connection_id"])
        if socket is None:
            return _gone()
        return web.json_response({
            "ConnectedAt": _iso(socket.connected_at), "LastActiveAt": _iso(socket.last_active_at),
            "Identity": {"SourceIp": socket.source_ip, "UserAgent": socket.user_agent},
        })

    async def delete_connection(self, request: web.Request) -> web.Response:
        socket = self.sockets.get(request.match_info["connection_id"])
        if socket is None:
            return _gone()
        await socket.ws.close()  # the accept loop ends and fires $disconnect
        return web.Response(status=204)

    # -- internals -------------------------------------------------------------------

    def _event(self, route: str, kind: str, connection_id: str, request: web.Request) -> dict[str, Any]:
        now = time.time()
        return {
            "headers": dict(request.headers),
            "isBase64Encoded": False,
            "requestContext": {
                "routeKey": route, "eventType": kind, "messageDirection": "IN", "stage": self._stage,
                "connectionId": connection_id, "connectedAt": int(now * 1000), "requestTimeEpoch": int(now * 1000),
                "requestId": secrets.token_hex(8), "domainName": self._domain, "apiId": "local",
                "identity": {"sourceIp": request.remote or "", "userAgent": request.headers.get("User-Agent", "")},
            },
        }

    def _lambda_entry(self, route: str) -> Any:
        """What Lambda would invoke for a route: the object its ``handler_string`` names
        (Chalice's wrapper that builds the WebsocketEvent and shapes the answer)."""
        config = self._app.websocket_handlers.get(route)
        if config is None:
            return None
        module_name, _, attribute = config.handler_string.rpartition(".")
        return getattr(importlib.import_module(module_name), attribute)

    async def _invoke(self, route: str, event: dict[str, Any]) -> dict[str, Any] | None:
        entry = self._lambda_entry(route)
        if entry is None:
            return {"statusCode": 200}
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, entry, event, None)
        except Exception:  # noqa: BLE001 - a failing handler is a 500, as on API Gateway
            log.exception("websocket handler failed", extra={"route": route})
            return {"statusCode": 500}


async def _close_sockets(app: web.Application) -> None:
    for socket in list(app[GATEWAY].sockets.values()):
        await socket.ws.close(code=1001, message=b"gateway shutting down")


def _gone() -> web.Response:
    return web.json_response({"message": None}, status=410, headers={"x-amzn-ErrorType": "GoneException"})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


GATEWAY = web.AppKey("gateway", Gateway)


def create_app(chalice_app: Any, stage: str = "dev", domain: str = "127.0.0.1") -> web.Application:
    gateway = Gateway(chalice_app, stage, domain)
    app = web.Application()
    app[GATEWAY] = gateway
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", gateway.accept)
    app.router.add_post("/{stage}/@connections/{connection_id}", gateway.post_to_connection)
    app.router.add_get("/{stage}/@connections/{connection_id}", gateway.get_connection)
    app.router.add_delete("/{stage}/@connections/{connection_id}", gateway.delete_connection)
    app.router.add_get("/{stage}", gateway.accept)
    return app


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description="Local stand-in for API Gateway WebSockets")
    parser.add_argument("--host", default=os.environ.get("PARLOR_WS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PARLOR_WS_PORT", "8001")))
    parser.add_argument("--stage", default=os.environ.get("PARLOR_WS_STAGE", "dev"))
    args = parser.parse_args()
    logs.configure("ws-gateway")
    from app import app as chalice_app

    web.run_app(create_app(chalice_app, args.stage, f"{args.host}:{args.port}"), host=args.host, port=args.port,
                print=None, access_log_class=logs.AccessLog)


if __name__ == "__main__":
    main()
