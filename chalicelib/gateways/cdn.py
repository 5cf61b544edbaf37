"""Signed access to the media bucket through the CDN (CloudFront; locally ``local.cdn``).

CloudFront serves a space's objects only to requests signed with a key of the distribution's
key group: a policy naming the resource (a URL, ``*`` matching any characters) and when it
stops working, signed with RSA-SHA1 by the private key (CloudFront's scheme, which the
local stand-in checks the same way). One signature covers a whole prefix, so an HLS player
can fetch the playlist and every segment with it: as the query string of each URL (the
``query`` clients append, e.g. hls.js's ``xhrSetup``), or as the three CloudFront cookies
(AVPlayer's ``AVURLAssetHTTPCookiesKey``, ExoPlayer's cookie handler).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.clock import Clock

# The names CloudFront reads a signed request's parts from, as query parameters or cookies.
QUERY_PARAMS = ("Policy", "Signature", "Key-Pair-Id")
COOKIES = ("CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id")


@dataclass(frozen=True)
class SignedAccess:
    """A signed URL of one object and what opens every object under ``scope`` until ``expires_at``."""

    url: str  # the object's URL with the signature as its query string
    query: str  # "Policy=...&Signature=...&Key-Pair-Id=...": append to any URL under the scope
    cookies: dict[str, str]  # the same, as CloudFront's three cookies
    scope: str  # the URL pattern the policy allows (e.g. https://cdn/spaces/{id}/*)
    expires_at: datetime


class MediaAccess(Protocol):
    def sign(self, key: str, scope_prefix: str, lifetime: timedelta) -> SignedAccess:
        """Access to the object ``key`` and everything under ``scope_prefix``, for ``lifetime``."""


class CdnSigner:
    def __init__(self, cdn_url: str, key_pair_id: str, private_key_pem: str, clock: Clock):
        self._base = cdn_url.rstrip("/")
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the CDN signing key must be an RSA private key (CloudFront's key groups take RSA 2048)")
        self._signer = CloudFrontSigner(key_pair_id, lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1()))
        self._key_pair_id = key_pair_id
        self._clock = clock

    def url(self, key: str) -> str:
        return f"{self._base}/{key}"

    def sign(self, key: str, scope_prefix: str, lifetime: timedelta) -> SignedAccess:
        expires_at = (self._clock.now() + lifetime).replace(microsecond=0)
        scope = f"{self._base}/{scope_prefix}*"
        policy = self._signer.build_policy(scope, expires_at)
        signed_url = self._signer.generate_presigned_url(self.url(key), policy=policy)
        query = signed_url.partition("?")[2]
        values = dict(part.split("=", 1) for part in query.split("&"))
        return SignedAccess(url=signed_url, query=query, cookies={c: values[q] for q, c in zip(QUERY_PARAMS, COOKIES, strict=True)},
                            scope=scope, expires_at=expires_at)


def generate_private_key() -> str:
    """A new RSA 2048 signing key (PKCS#8 PEM), the kind CloudFront's key groups take: for the
    local stack and tests. On AWS the deployer makes one (``make cdn-keys``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
