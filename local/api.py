"""``python -m local.api``: the REST API served as ``chalice local`` serves it (the same
local server and request handling), with every log line JSON and request paths logged
without their query strings."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalGatewayException, create_local_server

from local import logs
from local.stack import ROOT

log = logging.getLogger("local.api")


class JsonRequestHandler(ChaliceRequestHandler):
    def __getattr__(self, name: str) -> Any:
        # Every method reaches Chalice (TRACE, QUERY, ...), which answers 405 as for any method a
        # route lacks, where http.server would answer 501 Not Implemented.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # Chalice's local gateway answers a path no route has as API Gateway does by default (403
        # "Missing Authentication Token", echoing an Authorization header). The deployed API's
        # Gateway Response makes that a 404 in the error envelope (infra/parlor_stack.py): so here.
        if not isinstance(error, ForbiddenError):
            super()._send_error_response(error)
            return
        from chalicelib.api.edge import edge_headers, envelope
        from chalicelib.errors import RouteNotFound

        request_id = str(error.headers.get("x-amzn-RequestId") or uuid.uuid4())
        body = json.dumps(envelope(RouteNotFound.status, {"error": {"code": RouteNotFound.code,
                                                                   "message": RouteNotFound.default_message}}, request_id))
        headers = {"Content-Type": "application/json", **edge_headers(request_id, self.headers.get("Origin"))}
        self._send_http_response(RouteNotFound.status, headers, body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        log.info("request", extra={"method": self.command, "path": urlsplit(self.path).path, "status": int(code),
                                   "remote": self.client_address[0]})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.warning(format % args)


def main() -> None:
    parser = argparse.ArgumentParser(description="The local REST API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args()
    logs.configure("api")
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as chalice local sets it
    config = CLIFactory(str(ROOT), environ=os.environ).create_config_obj(chalice_stage_name=args.stage)
    server = create_local_server(config.chalice_app, config, args.host, args.port)
    server.server.RequestHandlerClass = functools.partial(JsonRequestHandler, app_object=config.chalice_app, config=config)
    server.server.handle_error = _log_request_error  # type: ignore[method-assign]
    log.info("serving", extra={"url": f"http://{args.host}:{args.port}"})
    # As a deployment's schedule would (api/media_tasks.py), but at once: the first space need not start cold.
    _warm_the_media_pool()
    server.server.serve_forever()


def _log_request_error(request: Any, client_address: Any) -> None:
    """socketserver prints a failed request's traceback raw; here it is one JSON line. The
    usual one is a client gone before its answer (a worker killed, or timing out, mid-call)."""
    error = sys.exc_info()[1]
    log.warning("request not completed", extra={"remote": client_address[0], "error": repr(error)},
                exc_info=not isinstance(error, ConnectionError))


def _warm_the_media_pool() -> None:
    from chalicelib.wiring import services

    try:
        services().media.refill_pool()
    except Exception:  # noqa: BLE001 - the schedule tries again; spaces start cold meanwhile
        log.exception("could not fill the media workers' warm pool")


if __name__ == "__main__":
    main()
