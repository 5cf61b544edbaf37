"""Everything that leans on aiortc/aioice internals, in one place (tests/media_worker/test_ice.py
fails if an upgrade breaks it).

- Host candidates are gathered only on the bind address (aioice has no option for it).
- The answer announces the public host in its candidates (a 1:1 NAT such as a Fargate task's
  public IP), since aioice cannot be told its public address.
- How long a silent peer keeps consent (aioice's module constants: no option either).
- A browser's mDNS candidates are dropped before aioice sees them (it would spend ~1 s
  failing to resolve them inside setRemoteDescription).
- Host candidates on the process's one UDP socket (``media_worker.udpmux``) instead of a
  socket per connection (aioice binds one in ``Connection.get_component_candidates``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import aioice.ice
import aioice.stun
import aioice.utils
from aioice.candidate import Candidate, candidate_foundation, candidate_priority

from media_worker.udpmux import UdpMux


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


# -- the shared UDP socket -------------------------------------------------------------------

_MUX: ContextVar[UdpMux | None] = ContextVar("media_worker_udp_mux", default=None)
_own_sockets = aioice.ice.Connection.get_component_candidates


def install_mux() -> None:
    """Make aioice gather host candidates on the mux of the context that gathers
    (``gathering_on``), process-wide; without one, on a socket of their own as before.

    A context rather than one process-wide mux: the worker's connections share its socket,
    while peers of another role in the same process (the tests' clients, a bench's) keep
    theirs — a client and the worker on one socket would be one address talking to itself."""
    aioice.ice.Connection.get_component_candidates = _component_candidates  # type: ignore[method-assign]


@contextlib.contextmanager
def gathering_on(mux: UdpMux | None) -> Iterator[None]:
    """Connections gathering inside this block (``setLocalDescription``) use ``mux``."""
    token = _MUX.set(mux)
    try:
        yield
    finally:
        _MUX.reset(token)


async def _component_candidates(self: aioice.ice.Connection, component: int, addresses: list[str],
                                timeout: int = 5) -> list[Candidate]:
    """aioice's own gathering, with the host candidates' protocols on the mux's socket (its
    port, each address of its family: all of them when the mux is bound to every address).
    Server-reflexive candidates are asked for through those protocols (the STUN server's
    answer comes back on the mux, routed by transaction id); a TURN allocation keeps a socket
    of its own (aioice's code, given no host address)."""
    mux = _MUX.get()
    if mux is None:
        return await _own_sockets(self, component, addresses, timeout)
    family = 6 if mux.sock.family == socket.AF_INET6 else 4
    bound_anywhere = mux.host in ("0.0.0.0", "::")
    hosts = [a for a in addresses if ipaddress.ip_address(a).version == family and (bound_anywhere or a == mux.host)]
    candidates: list[Candidate] = []
    protocols: list[aioice.ice.StunProtocol] = []
    while mux.ufrag_taken(self.local_username):
        # aioice's ufrags are 4 random characters: among thousands of connections on one
        # socket two would collide now and then, and checks are routed by it. aiortc reads
        # it for the local description after gathering, so a new one is announced.
        self._local_username = aioice.utils.random_string(4)
    for host in hosts or ([] if bound_anywhere else [mux.host]):
        protocol = aioice.ice.StunProtocol(self)
        mux.attach(protocol, host, self.local_username)
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host), component=component, transport="udp",
            priority=candidate_priority(component, "host"), host=host, port=mux.port, type="host")
        protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    self._protocols += protocols
    tasks: list[asyncio.Task[Any]] = []
    if self.stun_server:
        tasks += [asyncio.create_task(aioice.ice.server_reflexive_candidate(p, self.stun_server))
                  for p in protocols if family == 4]
    if self.turn_server:
        tasks.append(asyncio.create_task(_own_sockets(self, component, [], timeout)))
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is None:
                result = task.result()
                candidates += result if isinstance(result, list) else [result[0]]
    return candidates
