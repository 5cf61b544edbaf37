"""``Idempotency-Key`` on the POSTs a client may retry (create a space, open a checkout,
send a chat message): the first answer, status and body, is given again to every retry of
the same request (same user, same route, same key) for 24 hours.

- The same key with a different body is refused (422 ``idempotency_key_reused``): a client
  bug, not a retry.
- While the first request runs, a retry gets 409 ``request_in_progress`` with Retry-After;
  if the first one's Lambda died, the key frees itself when its time would have run out.
- Only a success is kept. An error changes nothing (DESIGN: bad input changes nothing), so
  a retry after one runs again and may succeed (e.g. once the rate limit has passed).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, Callable

from chalicelib.errors import ValidationFailed
from chalicelib.services.idempotency import Idempotency, Purpose

HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[ -~]{1,255}$"  # printable ASCII, as HTTP header values travel, up to 255 characters
CLIENT_REQUESTS = Purpose(name="request", key_fields="[user, route, key]", kept_for=timedelta(hours=24),
                          same_request="body")
OPENAPI_PARAMETER = {
    "name": HEADER, "in": "header", "required": False, "schema": {"type": "string", "pattern": KEY_PATTERN},
    "description": "Makes a retry safe: the same key (for you, on this route) within 24 h gets the first answer "
                   "again; another body with it is refused (422 idempotency_key_reused); while the first request "
                   "runs, 409 request_in_progress with Retry-After.",
}


def answer_once(idempotency: Idempotency, key: str, user_id: str, route: str, body: Any,
                run: Callable[[], tuple[int, Any]], lambda_context: Any) -> tuple[int, Any, bool]:
    """``run()`` gives (status, body); returns it, the first one's for a retry, and whether it is a replay."""
    if not re.fullmatch(KEY_PATTERN, key):
        raise ValidationFailed(f"{HEADER} must be 1 to 255 printable ASCII characters.", code="invalid_idempotency_key")

    def first() -> dict[str, Any]:
        status, payload = run()
        return {"status": status, "body": payload}

    request = {"user": user_id, "route": route, "key": key, "body": json.dumps(body, sort_keys=True)}
    answer = idempotency.once(CLIENT_REQUESTS, first, request, lambda_context,
                              on_replay=lambda stored: {**stored, "replayed": True})
    return int(answer["status"]), answer["body"], bool(answer.get("replayed"))
