"""Everything that leans on aiortc/aioice internals, in one place (tests/media_worker/test_ice.py
fails if an upgrade breaks it).

- Host candidates are gathered only on the bind address (aioice has no option for it).
- The answer announces the public host in its candidates (a 1:1 NAT such as a Fargate task's
  public IP), since aioice cannot be told its public address.
- How long a silent peer keeps consent (aioice's module constants: no option either).
- A browser's mDNS candidates are dropped before aioice sees them (it would spend ~1 s
  failing to resolve them inside setRemoteDescription).
"""

from __future__ import annotations

import re

import aioice.ice
import aioice.stun


def gather_only_on(address: str) -> None:
    """Make aioice offer host candidates on ``address`` alone (process-wide)."""

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address]

    aioice.ice.get_host_addresses = host_addresses  # type: ignore[assignment]


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.MULTILINE)


ANY_ADDRESS = "0.0.0.0"


def announce(sdp: str, bind_address: str, public_host: str) -> str:
    """Rewrite host candidates on the bind address (every one, when bound to all addresses)
    to the public host."""
    if public_host == bind_address or (bind_address == ANY_ADDRESS and public_host in ("", "127.0.0.1")):
        return sdp

    def rewrite(m: re.Match[str]) -> str:
        ours = m.group(2) == bind_address or (bind_address == ANY_ADDRESS and ":" not in m.group(2))
        return m.group(1) + (public_host if ours else m.group(2)) + m.group(3)

    return _CANDIDATE.sub(rewrite, sdp)


def set_consent_timeout(seconds: float) -> None:
    """Make aioice give up on a connected peer about ``seconds`` after it went silent
    (process-wide): consent expires after CONSENT_FAILURES checks in a row go unanswered,
    each sent CONSENT_INTERVAL (±20 %) after the previous one and given up after RETRY_RTO."""
    per_check = seconds / aioice.ice.CONSENT_FAILURES
    aioice.ice.CONSENT_INTERVAL = max(0.1, per_check - aioice.stun.RETRY_RTO)  # type: ignore[assignment]


_MDNS_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ \S+\.local \d+ typ .*\r?\n", re.MULTILINE | re.IGNORECASE)
_END_OF_CANDIDATES = re.compile(r"^a=end-of-candidates\r?\n", re.MULTILINE)


def without_mdns_candidates(sdp: str) -> str:
    """Drop an offer's mDNS candidates (``<uuid>.local``: a browser hiding its host addresses,
    as a page without microphone permission does).

    Only hosts on the browser's own link can resolve those names, never the worker (a server
    with a public address, elsewhere): aioice would wait ~1 s per offer, inside
    setRemoteDescription, for an answer that does not come. Nothing is lost: the browser
    checks the worker's own candidate from the answer, and that check gives the worker the
    browser's address as a peer-reflexive candidate, through which ICE completes.

    For the same reason an ``a=end-of-candidates`` goes too when a candidate was dropped
    (Firefox sends it): after it, aioice fails a check list without pairs, before the
    browser's first check arrives. Without it a peer that never connects is dropped by the
    worker's connect deadline, as a Chromium peer (which never ends its candidates) is."""
    kept, dropped = _MDNS_CANDIDATE.subn("", sdp)
    return _END_OF_CANDIDATES.sub("", kept) if dropped else sdp
