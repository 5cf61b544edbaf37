"""``python -m media_worker.sender``: one sender process of a worker (``media_worker.senders``
starts them; never by hand).

It holds the peer connections of the listeners the mixing process gives it (their DTLS/SRTP
state is its own) in a ``Room`` of listeners that never ticks: each packet of the listeners'
mix the mixing process encoded arrives as one datagram on its packet socket and goes out to
its listeners at once (``Room.relay``).

Its settings come as one JSON line on stdin (``{"config", "control", "packets"}``: the
worker's settings, its control socket's path, its packet socket's path), and stdin then stays
open: its end (EOF) means the mixing process is gone — exited, or killed with SIGKILL, which
closes the pipe too — and the sender closes its connections and exits. No pinning to a CPU:
the kernel spreads the processes over the task's cores and moves them when one is busy with
something else (the mixing process's tick, another sender's handshakes); a fixed pinning
would only be right on a machine where nothing else ever runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import struct
import sys
from typing import Any

import av
from aiohttp import web

from media_worker import dtls, ice, logs, metrics
from media_worker.config import WorkerConfig
from media_worker.connect import OfferRefused, connect, fanouts, parse_offer
from media_worker.http_errors import error_response, errors_as_json
from media_worker.mixer import TIME_BASE
from media_worker.room import Room
from media_worker.udpmux import UdpMux

log = logging.getLogger("media_worker.sender")
# A datagram of the listeners' mix: the packet's pts (48 kHz) then its Opus payload.
PACKET_HEADER = struct.Struct("!q")
MAX_DATAGRAM = 65_536


class Sender:
    """The listeners' connections of one sender process, and its control face (HTTP over its
    unix socket): ``POST /offer``, ``POST /drop``, ``GET /metrics``, ``GET /health``."""

    def __init__(self, config: WorkerConfig, mux: UdpMux):
        self.config = config
        self.mux = mux  # every listener's ICE of this process on one UDP port
        self.room = Room(config.jitter_frames, new_fanout=fanouts(config))
        self.dropped_datagrams = 0  # malformed ones: none should ever arrive

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024, middlewares=[errors_as_json])
        app.router.add_post("/offer", self.offer)
        app.router.add_post("/drop", self.drop)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/health", self.health)
        return app

    async def offer(self, request: web.Request) -> web.Response:
        """A listener the mixing process admitted (grant and standing checked there)."""
        body = await request.json()
        try:
            sdp = await connect(self.config, self.room, str(body["user_id"]), str(body["role"]), bool(body["muted"]),
                                parse_offer(body), self.mux)
        except OfferRefused as exc:
            return error_response(exc.status, exc.code, exc.message)
        return web.json_response({"sdp": sdp, "type": "answer", "listeners": len(self.room.participants)})

    async def drop(self, request: web.Request) -> web.Response:
        """Close a user's connection here: removed from the room, re-offering to another
        process, or gone on stage."""
        dropped = await self.room.remove(str((await request.json())["user_id"]))
        return web.json_response({"dropped": dropped, "listeners": len(self.room.participants)})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(metrics.of_process(self.room))

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pid": os.getpid()})

    def on_packets(self, sock: socket.socket) -> None:
        """Every datagram waiting: each one packet of the listeners' mix, sent on at once."""
        while True:
            try:
                data = sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            if len(data) <= PACKET_HEADER.size:
                self.dropped_datagrams += 1
                continue
            (pts,) = PACKET_HEADER.unpack_from(data)
            packet = av.Packet(data[PACKET_HEADER.size:])
            packet.pts = pts
            packet.time_base = TIME_BASE
            self.room.relay([packet])


async def serve(config: WorkerConfig, control_path: str, packets_path: str) -> None:
    """Serve until the mixing process closes stdin (or SIGTERM)."""
    if config.bind_host != ice.ANY_ADDRESS:
        ice.gather_only_on(config.bind_host)
    ice.set_consent_timeout(config.consent_timeout_seconds)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ice.install_mux()
    dtls.share_contexts()
    sender = Sender(config, await UdpMux.open(config.bind_host, config.udp_port))
    packets = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    packets.setblocking(False)
    packets.bind(packets_path)
    loop.add_reader(packets.fileno(), sender.on_packets, packets)
    runner = web.AppRunner(sender.app(), access_log=None)
    await runner.setup()
    await web.UnixSite(runner, control_path).start()  # last: once it answers, the packet socket is bound
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    main_gone = asyncio.ensure_future(stdin.read())  # returns at EOF: the mixing process is gone
    stopped = asyncio.ensure_future(stop.wait())
    log.info("sender serving", extra={"pid": os.getpid()})
    await asyncio.wait([main_gone, stopped], return_when=asyncio.FIRST_COMPLETED)
    main_gone.cancel()
    stopped.cancel()
    loop.remove_reader(packets.fileno())
    packets.close()
    await sender.room.close()
    sender.mux.close()  # after the room: its connections have closed their routes
    await runner.cleanup()
    log.info("sender stopped", extra={"pid": os.getpid()})


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the mixing process decides when
    # its senders stop (it closes their stdin).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings: dict[str, Any] = json.loads(sys.stdin.buffer.readline())
    config = WorkerConfig.model_validate(settings["config"])
    logs.configure(space_id=config.space_id, sender=settings["index"])
    asyncio.run(serve(config, settings["control"], settings["packets"]))


if __name__ == "__main__":
    main()
