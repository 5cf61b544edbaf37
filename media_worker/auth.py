"""Checking what the API sends a worker: media grants (Ed25519: the worker holds only the
public key) and signed calls (``parlor_contract.signatures``, the API's own code)."""

from __future__ import annotations

import jwt

from parlor_contract import signatures
from parlor_contract.media import MEDIA_GRANT_MAX_SECONDS, MEDIA_TOKEN_ALGORITHM, MEDIA_TOKEN_AUDIENCE, MediaGrant


class InvalidToken(Exception):
    pass


def verify_media_grant(token: str, public_key: str, space_id: str) -> MediaGrant:
    """The grant in a valid, unexpired, seconds-long media grant for this space; otherwise
    ``InvalidToken``. (Single use is the caller's ledger: ``signatures.NonceLedger``.)"""
    try:
        claims = jwt.decode(token, public_key, algorithms=[MEDIA_TOKEN_ALGORITHM], audience=MEDIA_TOKEN_AUDIENCE,
                            options={"require": list(MediaGrant.REQUIRED_CLAIMS), "verify_iat": False})
        grant = MediaGrant.from_claims(claims)
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed grant") from exc
    if grant.space_id != space_id:
        raise InvalidToken("the grant is for another space")
    if int(claims["exp"]) - int(claims["iat"]) > MEDIA_GRANT_MAX_SECONDS:
        raise InvalidToken("the grant lives too long: grants are minted per offer by the API")
    return grant


def verify_call(service_secret: str, space_id: str, path: str, body: bytes, header: str | None,
                ledger: signatures.NonceLedger) -> str | None:
    """Why a signed call about ``space_id`` is refused (None: accepted, its nonce now used)."""
    nonce = signatures.verify_request(signatures.space_key(service_secret, space_id), "POST", path, body, header)
    if nonce is None:
        return "invalid_signature"
    if not ledger.first_use(nonce):
        return "replayed"
    return None
