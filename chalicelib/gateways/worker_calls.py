"""The API's calls to a media worker's HTTP face (``/control``, a pooled worker's ``/claim``):
JSON, signed with the service secret (``parlor_contract.signatures``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from parlor_contract import signatures


def signed_post(url: str, payload: dict[str, Any], secret: str, timeout: float) -> str | None:
    """POST ``payload`` to a worker; None if it took it, else why not (a refusal or no answer)."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", signatures.HEADER: signatures.sign(secret, body)})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except (urllib.error.URLError, OSError) as exc:  # HTTPError (a refusal) is a URLError too
        return str(exc)
