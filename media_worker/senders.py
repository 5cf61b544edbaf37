"""The mixing process's sender processes (``config.processes`` ≥ 2): the listeners' peer
connections live in them, spread over the task's cores.

The mixing process keeps HTTP, admission and the stage (hosts and speakers: their
connections, decoding, mixing, HLS). Each sender (``media_worker.sender``) holds the
connections of the listeners given to it. Per tick the listeners' mix is encoded once, in the
mixing process, and each packet goes once to each sender as one unix datagram (pts + payload:
``SenderPool.deliver``, the pool being one ``Sink`` among the room's listeners); each sender
sends it on to its listeners at once.

Each sender has a control socket (HTTP over a unix socket): a listener's offer goes to the
least loaded sender (or the one already holding that user: a re-offer there replaces the old
connection as in one process), which answers it; a user's connection is dropped in the sender
holding it when they are removed, go on stage or offer to another process.

A sender that dies is logged and started again (``Supervisor``: after a short pause, growing
with each death); its listeners are gone from the counts until they offer again. One that
keeps dying stops the worker, which exits non-zero and is replaced, rather than serve a room
whose listeners cannot be heard. ``/health`` is 503 while a sender is not running."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import av
from aiohttp import ClientError, ClientSession, ClientTimeout, UnixConnector

from media_worker.config import WorkerConfig
from media_worker.connect import OfferRefused
from media_worker.sender import PACKET_HEADER
from media_worker.supervisor import Supervisor

log = logging.getLogger("media_worker.senders")
READY_SECONDS = 30.0  # a sender that does not answer this long after it started counts as crashed
STOP_SECONDS = 5.0  # then it is killed
OFFER_WAIT_SECONDS = 10.0  # a listener's offer waits this long for a sender to come up


class SenderExited(Exception):
    """A sender process ended while the worker was running."""


@dataclass
class SenderProcess:
    index: int
    control: str  # its control socket's path
    packets: str  # its packet socket's path
    process: asyncio.subprocess.Process | None = None
    http: ClientSession | None = None
    up: bool = False  # started and answering
    lost: bool = False  # it died (or could not start) and is not back yet
    listeners: int = 0  # as it last said, plus those given to it since
    packets_sent: int = 0  # datagrams handed to it
    packets_dropped: int = 0  # datagrams its full queue (or its absence) refused

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class SenderPool:
    """The sender processes of one worker, and the ``Sink`` that hands them the listeners' mix."""

    def __init__(self, config: WorkerConfig, supervisor: Supervisor):
        self.config = config
        self._supervisor = supervisor
        self._dir = tempfile.mkdtemp(prefix="parlor-senders-")
        self.senders = [SenderProcess(i, os.path.join(self._dir, f"{i}.control"), os.path.join(self._dir, f"{i}.packets"))
                        for i in range(config.processes)]
        self._holder: dict[str, SenderProcess] = {}  # the sender each listener's connection was given to
        self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._out.setblocking(False)  # the tick never waits on a sender: a full queue drops the packet
        self._closing = False

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start every sender, each watched by the supervisor. Not awaited: a claimed worker
        announces itself at once; a listener offering before any sender answers waits for
        the first (``offer``)."""
        for sender in self.senders:
            self._supervisor.start(f"sender-{sender.index}", lambda sender=sender: self._run(sender))  # type: ignore[misc]

    async def _run(self, sender: SenderProcess) -> None:
        """One life of a sender process: until it exits. An exit the worker did not ask for
        raises (``SenderExited``): the supervisor logs it and starts the sender again."""
        for path in (sender.control, sender.packets):  # a dead one's sockets
            if os.path.exists(path):
                os.unlink(path)
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "media_worker.sender",
                                                       stdin=asyncio.subprocess.PIPE)
        sender.process = process
        assert process.stdin is not None
        # A fixed UDP port (the mixing process's) is followed by one per sender; else each takes any.
        own_port = self.config.udp_port + 1 + sender.index if self.config.udp_port else 0
        settings = self.config.model_copy(update={"udp_port": own_port}).model_dump(mode="json")
        process.stdin.write(json.dumps({"config": settings, "index": sender.index,
                                        "control": sender.control, "packets": sender.packets}).encode() + b"\n")
        # stdin stays open: its end tells the sender this process is gone (media_worker.sender).
        sender.http = ClientSession(connector=UnixConnector(path=sender.control), timeout=ClientTimeout(total=10))
        try:
            await self._until_answering(sender, process)
            sender.up, sender.lost, sender.listeners = True, False, 0
            log.info("sender started", extra={"sender": sender.index, "pid": process.pid})
            status = await process.wait()
        finally:
            sender.up = False
            for user_id in [u for u, s in self._holder.items() if s is sender]:
                del self._holder[user_id]
            await sender.http.close()
            if process.returncode is None:  # cancelled (the worker closing) before it ended
                await _end(process)
        if not self._closing:
            sender.lost = True
            raise SenderExited(f"sender {sender.index} (pid {process.pid}) exited with status {status}: "
                               "its listeners were disconnected")

    async def _until_answering(self, sender: SenderProcess, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if process.returncode is not None:
                sender.lost = True
                raise SenderExited(f"sender {sender.index} exited with status {process.returncode} as it started")
            try:
                assert sender.http is not None
                async with sender.http.get("http://sender/health") as response:
                    if response.status == 200:
                        return
            except (ClientError, OSError):
                pass
            if time.monotonic() > deadline:
                await _end(process)
                sender.lost = True
                raise SenderExited(f"sender {sender.index} did not answer within {READY_SECONDS} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Stop every sender: its stdin closes, it closes its listeners' connections and exits
        (killed if it has not within a few seconds)."""
        self._closing = True
        running = [s.process for s in self.senders if s.process is not None and s.process.returncode is None]
        await asyncio.gather(*(_end(process) for process in running))
        self._out.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def down(self) -> list[int]:
        """The senders that died (or could not start) and are not running again yet; not
        those starting for the first time."""
        return [s.index for s in self.senders if s.lost]

    def running(self) -> int:
        return sum(s.up for s in self.senders)

    # -- the listeners' mix -------------------------------------------------------------

    def deliver(self, packet: av.Packet, data: bytes) -> bool:
        """One packet of the listeners' mix to each running sender: one datagram each. Never
        raises (the pool would leave the room's listeners) and counts as nothing sent: each
        sender counts what reaches its listeners."""
        datagram = PACKET_HEADER.pack(packet.pts or 0) + data
        for sender in self.senders:
            if not sender.up:
                continue
            try:
                self._out.sendto(datagram, sender.packets)
                sender.packets_sent += 1
            except OSError:  # its queue is full (it is behind), or it has just died
                sender.packets_dropped += 1
        return False

    # -- listeners' connections -------------------------------------------------------

    def holds(self, user_id: str) -> bool:
        return user_id in self._holder

    async def offer(self, user_id: str, role: str, muted: bool, offer: dict[str, str]) -> dict[str, Any]:
        """A listener's offer, answered by a sender: the one holding this user already (its
        room replaces the old connection, or answers 409 to the earlier of two overlapping
        offers), else the least loaded. ``OfferRefused`` with the sender's refusal, or 503
        when no sender is running."""
        sender = self._holder.get(user_id)
        if sender is None or not sender.up:
            running = await self._running()
            if not running:
                raise OfferRefused(503, "no_sender", "No sender process is running: offer again shortly.")
            sender = min(running, key=lambda s: s.listeners)
            sender.listeners += 1
        # Before the await: an overlapping offer goes to the same sender, whose room keeps the
        # later one. A refused offer leaves the holder as it was (the user's earlier connection,
        # if any, is still there; a stale entry costs a drop that finds nothing).
        self._holder[user_id] = sender
        answer = await self._call(sender, "POST", "/offer", {"user_id": user_id, "role": role, "muted": muted, **offer})
        sender.listeners = int(answer.pop("listeners", sender.listeners))
        return dict(answer)

    async def _running(self) -> list[SenderProcess]:
        """The senders running now; if none is (the worker has just started, or they are being
        started again), the first to come up, within a few seconds."""
        deadline = time.monotonic() + OFFER_WAIT_SECONDS
        while not (running := [s for s in self.senders if s.up]) and time.monotonic() < deadline and not self._closing:
            await asyncio.sleep(0.05)
        return running

    async def drop(self, user_id: str) -> bool:
        """Close this user's connection in the sender holding it, if one does."""
        sender = self._holder.pop(user_id, None)
        if sender is None or not sender.up:
            return False
        try:
            result = await self._call(sender, "POST", "/drop", {"user_id": user_id})
        except OfferRefused:
            return False
        sender.listeners = int(result["listeners"])
        return bool(result["dropped"])

    async def metrics(self) -> list[dict[str, Any]]:
        """Each running sender's own report (``media_worker.metrics.of_process``), with its
        index and the datagrams it was handed or missed."""
        async def one(sender: SenderProcess) -> dict[str, Any] | None:
            try:
                report = await self._call(sender, "GET", "/metrics")
            except OfferRefused:
                return None
            sender.listeners = int(sum(report.get("participants", {}).values()))
            return {**report, "sender": sender.index, "datagrams_dropped": sender.packets_dropped}

        reports = await asyncio.gather(*(one(s) for s in self.senders if s.up))
        return [r for r in reports if r is not None]

    async def _call(self, sender: SenderProcess, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call on a sender's control socket; its refusal (or its absence) as ``OfferRefused``."""
        if sender.http is None or not sender.up:
            raise OfferRefused(503, "no_sender", "That sender process is not running: offer again shortly.")
        try:
            async with sender.http.request(method, f"http://sender{path}", json=body) as response:
                payload = await response.json()
                if response.status != 200:
                    error = payload.get("error", {})
                    raise OfferRefused(response.status, str(error.get("code", "sender_error")),
                                       str(error.get("message", "The sender refused.")))
                return payload
        except (TimeoutError, ClientError, OSError) as exc:
            log.warning("a sender did not answer", extra={"sender": sender.index, "path": path, "error": str(exc)})
            raise OfferRefused(503, "no_sender", "The sender process did not answer: offer again shortly.") from None


async def _end(process: asyncio.subprocess.Process) -> None:
    """Close its stdin (it stops by itself), wait, then kill it if it has not."""
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), timeout=STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
