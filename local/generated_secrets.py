"""The local stack's secrets — the media-token key pair, the session (JWT), service and
TURN relay secrets, the Stripe stand-in's API key and webhook secret, and the CDN's signing key
(RSA, as CloudFront's key groups take, with a CloudFront-like key pair id) — made once per state
directory and kept there, so that sessions, media tokens, signed calls, relay credentials and
webhooks still verify after a restart. Settings has no defaults for them: the API and the
workers refuse to start without them (``chalicelib.settings.check_secrets``)."""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path

FILE = "secrets.json"


def load_or_create(state_dir: Path | None) -> dict[str, str]:
    """Settings values by field name; the missing ones made anew (and saved, if there is a
    state dir), so a state dir from before a new secret existed gains it and keeps the rest."""
    path = state_dir / FILE if state_dir is not None else None
    kept = dict(json.loads(path.read_text())) if path is not None and path.exists() else {}
    wanted = ("media_token_private_key", "media_token_public_key", "jwt_secret", "service_secret", "turn_secret",
              "stripe_api_key", "stripe_webhook_secret", "cdn_private_key", "cdn_key_pair_id")
    if all(name in kept for name in wanted):
        return kept
    from chalicelib.gateways.cdn import generate_private_key
    from chalicelib.services.tokens import generate_media_keypair

    private_key, public_key = generate_media_keypair()
    values = {"media_token_private_key": private_key, "media_token_public_key": public_key,
              "jwt_secret": secrets.token_urlsafe(48), "service_secret": secrets.token_urlsafe(48),
              "turn_secret": secrets.token_urlsafe(32),
              # The stand-in takes any "sk_" key, and signs its webhooks with the API's secret.
              "stripe_api_key": "sk_test_" + secrets.token_urlsafe(32),
              "stripe_webhook_secret": "whsec_" + secrets.token_urlsafe(32),
              # The API signs HLS access with it; local.cdn verifies with its public half.
              "cdn_private_key": generate_private_key(),
              "cdn_key_pair_id": "K" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(13))}
    if "media_token_private_key" in kept:  # a key pair is kept whole or made whole
        values.update(media_token_private_key=kept["media_token_private_key"],
                      media_token_public_key=kept["media_token_public_key"])
    values.update({k: v for k, v in kept.items() if not k.startswith("media_token_")})
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by the developer only, as the secrets of a real server would be.
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out)
        os.replace(path.with_suffix(".tmp"), path)
    return values

