"""One UDP socket for every peer connection's ICE in the process, as an SFU has: one port,
datagrams demultiplexed by their remote address.

Why: a tick's packet goes to every listener with one ``sendmmsg`` only if they all share a
socket; and one socket is read with one epoll wake per batch of datagrams (``add_reader`` +
``recvfrom_into`` until EAGAIN) instead of one per datagram per socket.

Routing an incoming datagram (``_dispatch``):

- a per-route hook first (``intercept``): the worker's listeners' RTCP, a bench's RTP count;
- a STUN request goes to the connection its USERNAME names (``<our ufrag>:<theirs>``), from
  whatever address (a new peer, or a known one re-checking); an unknown ufrag: dropped;
- a STUN response goes to the connection that sent the request (by transaction id: the
  answers of a STUN server, and of a peer's address we checked before it checked us);
- anything else goes to the connection that owns the remote address, else it is dropped and
  counted (``dropped``).

A route (remote address → connection) is learned when that connection's ICE *authenticates*
a check from the address: the moment aioice sends a Binding success response there (it does
so only after verifying USERNAME and MESSAGE-INTEGRITY with its local password). Not at the
first request (anyone who knows or guesses a ufrag, or spoofs a source address, could take an
address), and not later at nomination (the peer starts DTLS as soon as our response reaches
it: its ClientHello would find no route and wait a retransmit). An address keeps its first
owner until that connection closes: a second connection authenticated from the same
address and port (two peers behind one client socket) gets no route — its data would be
indistinguishable, as for any SFU. Two peers behind one NAT have different ports: two routes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from asyncio.trsock import TransportSocket
from collections.abc import Callable
from typing import Any

log = logging.getLogger("media_worker")

Address = tuple[str, int]
Handler = Callable[[bytes], bool]

BUFFER_BYTES = 4 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_MAGIC_COOKIE = b"\x21\x12\xa4\x42"
_BINDING_SUCCESS = 0x0101
_USERNAME = 0x0006
_TRANSACTION_SECONDS = 60.0  # aioice's longest transaction (its retransmissions) is well under this


def _stun_class(data: bytes) -> int | None:
    """The STUN class of a datagram (0 request, 1 indication, 2 success, 3 error), None if it
    is not STUN (RFC 7983: STUN's first byte is 0–3; RTP/RTCP 128–191, DTLS 20–63)."""
    if len(data) < 20 or data[0] > 3 or data[4:8] != _MAGIC_COOKIE:
        return None
    kind = (data[0] << 8) | data[1]
    return ((kind >> 7) & 2) | ((kind >> 4) & 1)


def stun_username(data: bytes) -> str | None:
    """The USERNAME attribute of a STUN message, None without one."""
    end = min(len(data), 20 + int.from_bytes(data[2:4], "big"))
    at = 20
    while at + 4 <= end:
        kind, length = int.from_bytes(data[at:at + 2], "big"), int.from_bytes(data[at + 2:at + 4], "big")
        if kind == _USERNAME:
            return data[at + 4:at + 4 + length].decode("utf-8", "replace")
        at += 4 + length + (-length % 4)
    return None


class MuxTransport(asyncio.DatagramTransport):
    """One connection's view of the shared socket, given to its aioice ``StunProtocol``."""

    def __init__(self, mux: UdpMux, protocol: asyncio.DatagramProtocol, host: str):
        super().__init__()
        self._mux = mux
        self._protocol = protocol
        self._host = host
        self._closing = False

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:  # type: ignore[override]
        if self._closing or addr is None:
            return
        data = bytes(data)
        address = (addr[0], addr[1])
        if data[0] < 4:  # STUN: note what routes its answers
            stun = _stun_class(data)
            if stun == 0:
                self._mux._expect_response(data[8:20], self._protocol)
            elif stun == 2 and (data[0] << 8 | data[1]) == _BINDING_SUCCESS:
                self._mux._learn(address, self._protocol)
        self._mux.send(data, address)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._mux._forget(self._protocol)
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self._closing

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return TransportSocket(self._mux.sock)
        if name == "sockname":
            return (self._host, self._mux.port)
        if name == "peername":
            return None
        return default

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]


class UdpMux:
    """The shared socket and its routing tables (see the module's docstring)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self.dropped = 0  # datagrams nobody owned (unknown address, unknown ufrag, late answers)
        self.send_failures = 0  # datagrams the kernel refused (a full send buffer): UDP, so dropped
        self._routes: dict[Address, asyncio.DatagramProtocol] = {}
        self._intercepts: dict[Address, Handler] = {}
        self._ufrags: dict[str, asyncio.DatagramProtocol] = {}
        self._transactions: dict[bytes, tuple[asyncio.DatagramProtocol, float]] = {}
        self._open: set[asyncio.DatagramProtocol] = set()
        self._buffer = bytearray(65536)
        self._view = memoryview(self._buffer)
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def open(cls, host: str, port: int = 0) -> UdpMux:
        """Bind ``(host, port)`` (0: any free port) and start reading it on the running loop."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            _raise_buffers(sock)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        mux = cls(sock)
        mux._loop = asyncio.get_running_loop()
        mux._loop.add_reader(sock.fileno(), mux._drain)
        log.info("udp mux open", extra={"host": mux.host, "port": mux.port,
                                        "rcvbuf": sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                                        "sndbuf": sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)})
        return mux

    def close(self) -> None:
        if self.sock.fileno() < 0:
            return
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        for protocol in list(self._open):
            transport = getattr(protocol, "transport", None)
            if isinstance(transport, MuxTransport):
                transport.close()
        self.sock.close()

    # -- what aioice's patched gathering calls (media_worker.ice) ----------------------

    def attach(self, protocol: asyncio.DatagramProtocol, host: str, ufrag: str) -> MuxTransport:
        """A transport on the shared socket for one connection's protocol; STUN checks naming
        ``ufrag`` (its local username) reach it. A ufrag another live connection holds keeps
        its first holder (ufrags are random: only a bug or a guess repeats one)."""
        transport = MuxTransport(self, protocol, host)
        self._open.add(protocol)
        if self._ufrags.setdefault(ufrag, protocol) is not protocol:
            log.warning("ice ufrag already in use on the mux", extra={"ufrag": ufrag})
        protocol.connection_made(transport)
        return transport

    def ufrag_taken(self, ufrag: str) -> bool:
        return ufrag in self._ufrags

    # -- routes and hooks -------------------------------------------------------------

    def intercept(self, remote: Address, handler: Handler | None) -> None:
        """Hand each datagram from ``remote`` to ``handler`` first (True: consumed, aioice never
        sees it); ``None`` removes it. Gone with the route when its connection closes."""
        if handler is None:
            self._intercepts.pop(remote, None)
        else:
            self._intercepts[remote] = handler

    def route_of(self, remote: Address) -> asyncio.DatagramProtocol | None:
        return self._routes.get(remote)

    @property
    def routes(self) -> int:
        return len(self._routes)

    @property
    def connections(self) -> int:
        return len(self._open)

    def _learn(self, remote: Address, protocol: asyncio.DatagramProtocol) -> None:
        owner = self._routes.setdefault(remote, protocol)
        if owner is not protocol:
            log.info("address already routed to another connection", extra={"remote": f"{remote[0]}:{remote[1]}"})

    def _forget(self, protocol: asyncio.DatagramProtocol) -> None:
        self._open.discard(protocol)
        for remote in [r for r, p in self._routes.items() if p is protocol]:
            del self._routes[remote]
            self._intercepts.pop(remote, None)
        for ufrag in [u for u, p in self._ufrags.items() if p is protocol]:
            del self._ufrags[ufrag]

    def _expect_response(self, transaction_id: bytes, protocol: asyncio.DatagramProtocol) -> None:
        now = time.monotonic()
        self._transactions[transaction_id] = (protocol, now)
        for oldest, (_, at) in self._transactions.items():  # insertion order: prune from the front
            if now - at < _TRANSACTION_SECONDS:
                break
            del self._transactions[oldest]
            break  # one per call: amortised, and the dict is not changed while iterated further

    # -- the socket ----------------------------------------------------------------------

    def send(self, data: bytes, remote: Address) -> None:
        try:
            self.sock.sendto(data, remote)
        except (BlockingIOError, InterruptedError):
            self.send_failures += 1
        except OSError as exc:  # an unreachable address: UDP, nothing to do
            if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL, errno.EPERM, errno.ECONNREFUSED):
                log.warning("udp mux send failed", extra={"error": str(exc)})
            self.send_failures += 1

    def _drain(self) -> None:
        """Every datagram queued on the socket, then back to the loop (one wake per batch)."""
        recv, view = self.sock.recvfrom_into, self._view
        while True:
            try:
                size, addr = recv(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued for an earlier send (ECONNREFUSED): read on
                continue
            self._dispatch(bytes(view[:size]), (addr[0], addr[1]))

    def _dispatch(self, data: bytes, remote: Address) -> None:
        handler = self._intercepts.get(remote)
        if handler is not None and handler(data):
            return
        protocol = self._routes.get(remote)
        if data and data[0] < 4:
            stun = _stun_class(data)
            if stun == 0:  # a request: to the connection its USERNAME names, wherever from
                ufrag = (stun_username(data) or "").partition(":")[0]
                protocol = self._ufrags.get(ufrag)
            elif stun is not None and stun >= 2:  # a response: to the connection that asked
                asked = self._transactions.pop(data[8:20], None)
                if asked is not None and asked[0] in self._open:
                    protocol = asked[0]
        if protocol is None:
            self.dropped += 1
            return
        protocol.datagram_received(data, remote)


def _raise_buffers(sock: socket.socket) -> None:
    """Ask for 4 MB each way (a burst to thousands of listeners must not overflow the send
    buffer, nor a burst of their reports the receive one): beyond net.core.*mem_max with the
    FORCE options when the process may (CAP_NET_ADMIN); else whatever the kernel grants."""
    for option, force in ((socket.SO_RCVBUF, _SO_RCVBUFFORCE), (socket.SO_SNDBUF, _SO_SNDBUFFORCE)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, BUFFER_BYTES)
            continue
        except OSError:
            pass
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)
        except OSError:
            pass
