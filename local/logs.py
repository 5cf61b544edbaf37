"""Logs of the offline stack: each process writes one JSON object per line, from every logger
in it (aiohttp's, werkzeug's and the app's own too) — Powertools' formatter, as the API's
Lambdas use, on the root handler. ``service`` says which process wrote the line."""

from __future__ import annotations

import logging
import sys

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter


def configure(service: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service=f"local-{service}", name="%(name)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class AccessLog(AbstractAccessLogger):
    """aiohttp's access log as fields, and without the query string: a WebSocket client puts
    its realtime token there (``/?token=...``), and no log line may carry a token."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info("request", extra={"method": request.method, "path": request.path, "status": response.status,
                                           "seconds": round(time, 4), "remote": request.remote})
