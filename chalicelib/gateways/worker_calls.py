"""The API's calls to a media worker's HTTP face, which only the API reaches (inside the VPC
on AWS): signed calls about a space (``/control``, a pooled worker's ``/claim``: the space's
key, method, path and a nonce, ``parlor_contract.signatures``), and relayed offers (``/offer``
with a single-use media grant)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from parlor_contract import signatures
from parlor_contract.media import OFFER_PATH


@dataclass(frozen=True)
class WorkerReply:
    status: int
    body: dict[str, Any]

    @property
    def error_code(self) -> str:
        return str((self.body.get("error") or {}).get("code", ""))


class WorkerUnreachable(Exception):
    """No answer from the worker (connection refused, reset, timed out)."""


def signed_post(base_url: str, path: str, payload: dict[str, Any], service_secret: str, timeout: float,
                attempts: int = 2) -> str | None:
    """POST ``payload`` (naming its ``space_id``) to a worker, signed with that space's key;
    None if it took it, else why not (a refusal or no answer). A call that got no answer is
    sent again as it was (same nonce): if the first did arrive, the worker says ``replayed``,
    which means it was taken."""
    body = json.dumps(payload).encode()
    key = signatures.space_key(service_secret, str(payload["space_id"]))
    headers = {signatures.HEADER: signatures.sign_request(key, "POST", path, body)}
    for attempt in range(1, attempts + 1):
        try:
            reply = _post(base_url + path, body, headers, timeout)
        except WorkerUnreachable as exc:
            if attempt == attempts:
                return str(exc)
            time.sleep(0.2)
            continue
        if reply.status < 300 or (attempt > 1 and reply.error_code == "replayed"):
            return None
        return f"HTTP {reply.status} {reply.error_code}"
    return "no attempt made"


def relay_offer(base_url: str, grant: str, offer: dict[str, str], timeout: float) -> WorkerReply:
    """The worker's reply to a client's offer sent with the API's grant. Raises ``WorkerUnreachable``."""
    return _post(base_url + OFFER_PATH, json.dumps(offer).encode(), {"Authorization": f"Bearer {grant}"}, timeout)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> WorkerReply:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return WorkerReply(response.status, _json(response.read()))
    except urllib.error.HTTPError as exc:  # the worker answered, with a refusal
        return WorkerReply(exc.code, _json(exc.read()))
    except (urllib.error.URLError, OSError) as exc:
        raise WorkerUnreachable(str(exc)) from exc


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
