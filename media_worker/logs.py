"""The worker's logs: one JSON object per line on stderr, from every logger in the process
(aiohttp's, aiortc's and aioice's too), by Powertools' formatter on the root handler."""

from __future__ import annotations

import logging
import sys
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter


def configure(level: int = logging.INFO, **keys: Any) -> None:
    """(Re)configure the root logger; ``keys`` (the space id, once known) go on every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service="media-worker", name="%(name)s", **keys))
    logging.basicConfig(level=level, handlers=[handler], force=True)
