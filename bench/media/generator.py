"""The load generator: listeners that join like real peers and then only count datagrams.

Each generator process runs its own asyncio loop and carries a share of the listeners.
A listener is an aiortc ``RTCPeerConnection`` (receive-only audio) that offers to the
worker with a media grant and completes ICE and DTLS-SRTP with it, like a browser; after
that it never decodes, never decrypts, never builds an aiortc object per packet.

Why one epoll, not one shared socket: the cheapest receive would be one UDP socket per
process shared by all its peer connections (what ``media_worker/udpmux.py`` does for the
worker). But the worker now shares one socket per process too, so a generator sharing one
socket would give all its listeners the same 5-tuple: neither side could tell whose DTLS
record or SRTP packet a datagram is. Each listener keeps its own socket (its own port, as
each browser has its own address); what the generator shares is the *reading*: every
listener's socket is taken out of asyncio's selector and put in one epoll set, which the
loop watches as one reader (``Intake``). When it is readable, one callback reads one
datagram from each ready socket (``recvfrom_into`` a reused buffer; level-triggered, so a
second datagram is read on the next round, never an EAGAIN exception per packet). RTP
(version 2, not an RTCP type) is counted; anything else (STUN consent checks, DTLS
alerts, RTCP) goes to the socket's aioice protocol as asyncio would have given it.
Per datagram that is one system call and a few bytecodes, against asyncio's per-socket
callback, ``recvfrom`` and aioice's STUN parse attempt (``python -m bench.media.generator
--capacity`` measures both).

Joins are ramped: at most ``concurrency`` offers in flight per generator process, each
timed from creating the peer connection to its ``connectionState`` being "connected"
(ICE and DTLS done). The orchestrator (``bench/media/__main__.py``) drives the processes
over a pipe: join, count, ssrcs, stop.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import resource
import select
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from chalicelib.clock import SystemClock
from chalicelib.services.tokens import RoomTokens
from media_worker import ice

SPACE = "BENCH"
JOIN_TIMEOUT = 60.0
MAX_EVENTS = 8192


def raise_file_limit() -> None:
    """Thousands of listeners are thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def is_rtp(first: int, second: int) -> bool:
    """SRTP leaves the RTP header in the clear: version 2 and a payload type outside RTCP's
    200–207 (72–79 once the marker bit is masked off). STUN starts 0/1, DTLS 20–63."""
    return first >> 6 == 2 and not 72 <= second & 0x7F <= 79


class Intake:
    """Every listener socket of this process read from one epoll set (see the module doc).

    A drop-in for another intake (a shared socket) needs only ``adopt`` and ``packets``."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.epoll = select.epoll()
        self.routes: dict[int, tuple[socket.socket, Any]] = {}  # fd -> (socket, aioice protocol)
        self.ssrcs: dict[int, int] = {}  # fd -> the worker's SSRC towards that listener
        self.packets = 0
        self._buffer = bytearray(2048)
        self._loop = loop
        loop.add_reader(self.epoll.fileno(), self.drain)

    def adopt(self, ice_transport: Any) -> None:
        """Take the sockets of one peer's ICE connection (gathered, not yet checking) away
        from asyncio's selector; sending through them is unchanged."""
        for protocol in ice_transport._connection._protocols:
            sock = protocol.transport._sock  # bench-only: the socket itself, not asyncio's TransportSocket view
            fd = sock.fileno()
            self._loop._remove_reader(fd)  # type: ignore[attr-defined]  # bench-only: asyncio's own reader
            self.routes[fd] = (sock, protocol)
            self.ssrcs.pop(fd, None)
            try:
                self.epoll.register(fd, select.EPOLLIN)
            except FileExistsError:  # an fd number reused after a failed peer closed
                self.epoll.modify(fd, select.EPOLLIN)

    def drain(self) -> None:
        buffer, routes = self._buffer, self.routes
        for fd, _ in self.epoll.poll(0, MAX_EVENTS):
            route = routes.get(fd)
            if route is None:
                continue
            sock, protocol = route
            try:
                size, addr = sock.recvfrom_into(buffer)
            except OSError:  # closed, or a spurious wake-up
                continue
            if size >= 12 and is_rtp(buffer[0], buffer[1]):
                self.packets += 1
                if fd not in self.ssrcs:
                    self.ssrcs[fd] = int.from_bytes(buffer[8:12], "big")
            else:
                protocol.datagram_received(bytes(buffer[:size]), addr)


@dataclass
class JoinReport:
    joined: int = 0
    failed: int = 0
    seconds: list[float] = field(default_factory=list)  # each join: peer created -> connected
    errors: list[str] = field(default_factory=list)


class Generator:
    def __init__(self, index: int, offer_url: str, private_key: str, service_secret: str) -> None:
        self.index = index
        self.offer_url = offer_url
        self.tokens = RoomTokens(private_key, service_secret, SystemClock())
        self.peers: list[RTCPeerConnection] = []
        self.intake = Intake(asyncio.get_running_loop())

    def grant(self, user: str) -> str:
        """Minted just before each offer: grants are single use and seconds-long."""
        return self.tokens.media_grant(SPACE, user, "listener", False, datetime.now(UTC))

    async def join_one(self, session: aiohttp.ClientSession, user: str) -> float:
        started = time.monotonic()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: loopback only (a default one would be tried for 5 s)
        self.peers.append(pc)
        transceiver = pc.addTransceiver("audio", direction="recvonly")
        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState in ("connected", "failed", "closed"):
                connected.set()

        await pc.setLocalDescription(await pc.createOffer())
        self.intake.adopt(transceiver.receiver.transport.transport)
        body = {"sdp": pc.localDescription.sdp, "type": "offer"}
        async with session.post(self.offer_url, json=body, headers={"Authorization": f"Bearer {self.grant(user)}"}) as resp:
            answer = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"offer refused: {resp.status} {answer}")
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(connected.wait(), JOIN_TIMEOUT)
        if pc.connectionState != "connected":
            raise RuntimeError(f"connection {pc.connectionState}")
        return time.monotonic() - started

    async def join(self, count: int, first: int, concurrency: int) -> JoinReport:
        report = JoinReport()
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=JOIN_TIMEOUT)) as session:

            async def one(i: int) -> None:
                async with gate:
                    try:
                        report.seconds.append(await self.join_one(session, f"g{self.index}l{i}"))
                        report.joined += 1
                    except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                        report.failed += 1
                        if len(report.errors) < 3:
                            report.errors.append(repr(exc)[:200])

            await asyncio.gather(*(one(first + i) for i in range(count)))
        return report


async def serve(conn: multiprocessing.connection.Connection, index: int, offer_url: str, private_key: str,
                service_secret: str) -> None:
    loop = asyncio.get_running_loop()
    generator = Generator(index, offer_url, private_key, service_secret)
    conn.send(("ready", os.getpid()))
    while True:
        command, *args = await loop.run_in_executor(None, conn.recv)
        if command == "join":
            conn.send(await generator.join(*args))
        elif command == "count":
            generator.intake.drain()  # what is already queued counts for this instant
            conn.send((time.monotonic(), generator.intake.packets))
        elif command == "ssrcs":
            conn.send(sorted(set(generator.intake.ssrcs.values())))
        elif command == "stop":
            conn.send("stopped")
            return  # the peers go with the process: closing thousands one by one is not measured


def run(conn: multiprocessing.connection.Connection, index: int, cores: set[int], offer_url: str, private_key: str,
        service_secret: str) -> None:
    """A generator process's entry point (spawned: a fresh interpreter, no inherited loop)."""
    os.sched_setaffinity(0, cores)
    raise_file_limit()
    ice.gather_only_on("127.0.0.1")
    asyncio.run(serve(conn, index, offer_url, private_key, service_secret))


@dataclass
class GeneratorProcess:
    process: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    pid: int

    def ask(self, *command: Any) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
            if self.conn.poll(10):
                self.conn.recv()
        except (BrokenPipeError, EOFError, OSError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start(index: int, cores: set[int], offer_url: str, private_key: str, service_secret: str) -> GeneratorProcess:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=run, args=(theirs, index, cores, offer_url, private_key, service_secret), daemon=True)
    process.start()
    ready, pid = ours.recv()
    return GeneratorProcess(process, ours, pid)


# --- capacity check: how many listeners' datagrams one generator process can count ---------

def blast(ports: list[int], seconds: float, core: int, sent: Any) -> None:
    """One fake SRTP packet (RTP header + 80 bytes) to every port each 20 ms, for ``seconds``
    (fewer when this one Python process cannot keep up: ``sent`` counts what went out)."""
    os.sched_setaffinity(0, {core})
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packet = bytes([0x80, 111]) + bytes(10) + bytes(80)
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        for port in ports:
            sock.sendto(packet, ("127.0.0.1", port))
        tick += 1
        sent.value += len(ports)
        pause = start + tick * 0.02 - time.monotonic()
        if pause > 0:
            time.sleep(pause)


class _Counting(asyncio.DatagramProtocol):
    """asyncio's own per-socket path, as the earlier raw listener used it (a callback and a
    ``recvfrom`` per datagram, then the header read), for comparison."""

    packets = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if is_rtp(data[0], data[1]):
            _Counting.packets += 1


def process_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def capacity(listeners: int, seconds: float, how: str) -> tuple[float, float, float, float]:
    """(datagrams sent per second, share of them counted, µs of this process's CPU per
    datagram counted, CPU share of its core)."""
    loop = asyncio.get_running_loop()
    socks: list[Any] = []
    transports: list[asyncio.BaseTransport] = []
    if how == "epoll":
        intake = Intake(loop)
        for _ in range(listeners):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
            intake.routes[sock.fileno()] = (sock, None)
            intake.epoll.register(sock.fileno(), select.EPOLLIN)
        counted = lambda: intake.packets  # noqa: E731
    else:
        _Counting.packets = 0
        for _ in range(listeners):
            transport, _ = await loop.create_datagram_endpoint(_Counting, local_addr=("127.0.0.1", 0))
            transports.append(transport)
            socks.append(transport.get_extra_info("socket"))
        counted = lambda: _Counting.packets  # noqa: E731
    ports = [s.getsockname()[1] for s in socks]
    context = multiprocessing.get_context("spawn")
    sent = context.Value("q", 0, lock=False)
    blaster = context.Process(target=blast, args=(ports, seconds + 1.0, 0, sent), daemon=True)
    blaster.start()
    await asyncio.sleep(0.5)
    n0, s0, c0, t0 = counted(), sent.value, process_cpu(), time.monotonic()
    await asyncio.sleep(seconds)
    n1, s1, c1, t1 = counted(), sent.value, process_cpu(), time.monotonic()
    blaster.join()
    for t in transports:
        t.close()
    if how == "epoll":
        for s in socks:
            s.close()
    got, due = n1 - n0, s1 - s0  # the blaster adds a tick's worth at once: a window's ends cut ticks
    return due / (t1 - t0), got / max(due, 1), (c1 - c0) * 1e6 / max(got, 1), (c1 - c0) / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description="Capacity of one generator process (datagrams counted per core)")
    parser.add_argument("--capacity", action="store_true", required=True)
    parser.add_argument("--listeners", default="1000,2000,4000", help="comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    raise_file_limit()
    print("One generator process on core 1, a blaster on core 0 sending each socket a 92-byte RTP datagram every 20 ms")
    print(f"{'intake':<8} {'sockets':>8} {'sent/s':>8} {'counted':>8} {'µs/datagram':>12} {'core used':>10} "
          f"{'listeners/core':>15}")
    for how in ("epoll", "asyncio"):
        for n in [int(x) for x in args.listeners.split(",")]:
            rate, share, per, used = asyncio.run(capacity(n, args.seconds, how))
            print(f"{how:<8} {n:>8} {rate:>8.0f} {share:>8.1%} {per:>12.2f} {used:>10.2f} {1e6 / (per * 50):>15.0f}",
                  flush=True)
    print("listeners/core = 1e6 / (µs per datagram × 50 datagrams a second per listener)")


if __name__ == "__main__":
    main()
