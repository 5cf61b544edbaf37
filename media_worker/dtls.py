"""One DTLS identity per worker process, instead of one per connection.

aiortc gives every RTCPeerConnection a fresh certificate (an EC key pair and a signed X.509:
≈ 9 KB, and a key generation and a signature per join) and every DTLS transport its own
OpenSSL context built from it (≈ 23 KB). For a worker with thousands of listeners that is a
fifth of its memory per listener. A server's identity is one certificate, as in any SFU:
each listener checks its fingerprint from the answer, and the context built from it holds
nothing per connection (aiortc checks the peer's fingerprint itself, after the handshake),
so it is built once per certificate and shared. It also lets OpenSSL free each connection's
record buffers while idle (``MODE_RELEASE_BUFFERS``: after the handshake a listener's DTLS
carries nothing but a rare alert; ≈ 14 KB per connection, measured once).

Both lean on aiortc internals (the connection's certificate list, the certificate's
context builder), reached from here only; ``tests/media_worker/test_dtls.py`` fails if an
upgrade moves them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate
from OpenSSL import SSL

_CERTIFICATES = "_RTCPeerConnection__certificates"
_build_context = RTCCertificate._create_ssl_context


@cache
def process_certificate() -> RTCCertificate:
    """This process's DTLS certificate, made on first use."""
    return RTCCertificate.generateCertificate()


def use_process_identity(pc: RTCPeerConnection) -> None:
    """``pc`` presents this process's certificate (before its first description is set)."""
    setattr(pc, _CERTIFICATES, [process_certificate()])


def share_contexts() -> None:
    """Build each certificate's OpenSSL context once (process-wide; idempotent)."""
    RTCCertificate._create_ssl_context = _shared_context  # type: ignore[method-assign, assignment]


def _shared_context(certificate: RTCCertificate, srtp_profiles: list[Any]) -> SSL.Context:
    contexts: dict[tuple[bytes, ...], SSL.Context] = certificate.__dict__.setdefault("_parlor_contexts", {})
    key = tuple(profile.openssl_profile for profile in srtp_profiles)
    if key not in contexts:
        context = _build_context(certificate, srtp_profiles)
        context.set_mode(SSL.MODE_RELEASE_BUFFERS)
        contexts[key] = context
    return contexts[key]
