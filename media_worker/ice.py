"""Everything that leans on aiortc/aioice internals, in one place (tests/media_worker/test_ice.py
fails if an upgrade breaks it).

- Host candidates are gathered only on the bind address (aioice has no option for it).
- The answer announces the public host in its candidates (a 1:1 NAT such as a Fargate task's
  public IP), since aioice cannot be told its public address.
"""

from __future__ import annotations

import re

import aioice.ice


def gather_only_on(address: str) -> None:
    """Make aioice offer host candidates on ``address`` alone (process-wide)."""

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address]

    aioice.ice.get_host_addresses = host_addresses  # type: ignore[assignment]


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.MULTILINE)


def announce(sdp: str, bind_address: str, public_host: str) -> str:
    """Rewrite host candidates on the bind address to the public host."""
    if public_host == bind_address:
        return sdp
    return _CANDIDATE.sub(lambda m: m.group(1) + (public_host if m.group(2) == bind_address else m.group(2)) + m.group(3), sdp)
