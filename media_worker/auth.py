"""Checking the media tokens the API hands out (Ed25519: the worker holds only the public key).

Signed control calls are checked with ``parlor_contract.signatures``, the API's own code.
"""

from __future__ import annotations

import jwt

from parlor_contract.media import MEDIA_TOKEN_ALGORITHM, MEDIA_TOKEN_AUDIENCE, MediaGrant


class InvalidToken(Exception):
    pass


def verify_media_token(token: str, public_key: str, space_id: str) -> MediaGrant:
    """The grant in a valid, unexpired media token for this space; otherwise ``InvalidToken``."""
    try:
        claims = jwt.decode(token, public_key, algorithms=[MEDIA_TOKEN_ALGORITHM], audience=MEDIA_TOKEN_AUDIENCE,
                            options={"require": list(MediaGrant.REQUIRED_CLAIMS), "verify_iat": False})
        grant = MediaGrant.from_claims(claims)
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    except ValueError as exc:
        raise InvalidToken("unknown role") from exc
    if grant.space_id != space_id:
        raise InvalidToken("token is for another space")
    return grant
