"""The local stack's secrets — the media-token key pair, the session (JWT) and service
secrets — made once per state directory and kept there, so that sessions, media tokens
and signed calls still verify after a restart. Never the insecure defaults of Settings."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

FILE = "secrets.json"


def load_or_create(state_dir: Path | None) -> dict[str, str]:
    """Settings values by field name; made anew (and saved, if there is a state dir) when missing."""
    path = state_dir / FILE if state_dir is not None else None
    if path is not None and path.exists():
        return dict(json.loads(path.read_text()))
    from chalicelib.services.tokens import generate_media_keypair

    private_key, public_key = generate_media_keypair()
    values = {"media_token_private_key": private_key, "media_token_public_key": public_key,
              "jwt_secret": secrets.token_urlsafe(48), "service_secret": secrets.token_urlsafe(48)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by the developer only, as the secrets of a real server would be.
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out)
        os.replace(path.with_suffix(".tmp"), path)
    return values
