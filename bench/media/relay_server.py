"""Baseline for the benchmark: aiortc's stock MediaRelay, which re-encodes for every listener.

Same ``POST /offer`` protocol as the worker (no auth: benchmark only). The first peer that
sends audio is the speaker; every other peer gets ``relay.subscribe(speaker_track)``.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from media_worker import ice


class RelayRoom:
    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.speaker: MediaStreamTrack | None = None
        self.speaker_ready = asyncio.Event()
        self.peers: set[RTCPeerConnection] = set()

    async def offer(self, request: web.Request) -> web.Response:
        body = await request.json()
        pc = RTCPeerConnection()
        self.peers.add(pc)
        sending = "a=sendrecv" in body["sdp"] or "a=sendonly" in body["sdp"]

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if sending and self.speaker is None:
                self.speaker = track
                self.speaker_ready.set()

        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        if not sending:
            await asyncio.wait_for(self.speaker_ready.wait(), 10)
            assert self.speaker is not None
            pc.addTrack(self.relay.subscribe(self.speaker, buffered=False))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp, "type": "answer"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ice.gather_only_on("127.0.0.1")
    room = RelayRoom()
    app = web.Application()
    app.router.add_post("/offer", room.offer)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
