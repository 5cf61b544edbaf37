"""A real TURN relay (coturn's ``turnserver``, configured as ``make run`` runs it) on free
loopback ports, and peers that may reach the media worker only through it."""

from __future__ import annotations

import random
import secrets
import socket
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from chalicelib.services.turn import RelayGrant
from local import turn

NOT_INSTALLED = f"coturn's turnserver is not installed: run `make test`, which installs it ({turn.INSTALL})"


@dataclass
class Relay:
    port: int
    secret: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def urls(self) -> list[str]:
        return turn.urls(self.port)


def free_udp_and_tcp_port() -> int:
    """A loopback port free for both UDP and TCP (coturn listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def run_relay(directory: Path, *extra: str) -> Iterator[Relay]:
    """Start coturn on free ports with a fresh secret; stop it afterwards."""
    if not turn.available():
        pytest.skip(NOT_INSTALLED)
    port, secret = free_udp_and_tcp_port(), secrets.token_urlsafe(24)
    first = random.randrange(50_000, 59_900)  # a relay range of its own, away from `make run`'s
    log = directory / "turnserver.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(turn.argv(port, secret, directory, relay_ports=(first, first + 40)) + list(extra),
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        turn.wait_until_listening(port)
        yield Relay(port, secret, process, log)
    finally:
        process.kill()
        process.wait()


def relay_only(ice_servers: Sequence[Mapping[str, Any]] | RelayGrant, transport: str) -> RTCConfiguration:
    """A client's configuration with the relay a join handed out (``media.ice_servers``, or the
    service's grant), over ``transport`` (udp|tcp), and no other way out: host and
    server-reflexive candidates are not gathered at all. (aiortc uses one TURN URL.)"""
    if isinstance(ice_servers, RelayGrant):
        ice_servers = [asdict(server) for server in ice_servers.ice_servers]
    (server,) = ice_servers
    url = next(u for u in server["urls"] if u.endswith(f"transport={transport}"))
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url, username=server["username"], credential=server["credential"])],
                            iceTransportPolicy=RTCIceTransportPolicy.RELAY)


def local_candidate_types(pc: RTCPeerConnection) -> set[str]:
    return {c.type for t in pc.getTransceivers() for c in t.receiver.transport.transport.iceGatherer.getLocalCandidates()}


def selected_local_candidate_type(pc: RTCPeerConnection) -> str | None:
    """The type of the local candidate ICE nominated (aiortc's getStats has no candidate pairs,
    so this reads aioice's connection: the one test helper that leans on its internals)."""
    (transceiver,) = pc.getTransceivers()
    connection = transceiver.receiver.transport.transport.iceGatherer._connection
    pair = connection._nominated.get(1)
    return pair.local_candidate.type if pair is not None else None
