"""A listener for load tests that does not decode: it completes ICE and DTLS-SRTP like any
peer, then only records when each RTP packet arrived and how big its payload was.

Decoding 100+ Opus streams would saturate the load generator's one core long before the
worker; without it the generator measures the worker. Tone bursts show in the payload size
(Opus spends far fewer bytes on silence), so arrival times still give the delay.
(Bench-only: replaces the receiver's packet handler on this peer's own instance.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

LOUD_PAYLOAD_BYTES = 40  # a 20 ms Opus frame of tone at 32 kbit/s is ~80 bytes, of silence a handful


@dataclass
class RawListener:
    pc: RTCPeerConnection
    packets: list[tuple[float, int]] = field(default_factory=list)  # (arrival, payload bytes)

    def received_between(self, start: float, end: float) -> int:
        return sum(1 for t, _ in self.packets if start <= t <= end)

    def loud_after(self, moment: float) -> float | None:
        return next((t for t, size in self.packets if t >= moment and size >= LOUD_PAYLOAD_BYTES), None)

    async def close(self) -> None:
        await self.pc.close()


async def raw_listener(session: aiohttp.ClientSession, url: str, token: str) -> RawListener:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio", direction="recvonly")
    listener = RawListener(pc)

    async def record(packet, arrival_time_ms: int) -> None:  # type: ignore[no-untyped-def]
        listener.packets.append((time.monotonic(), len(packet.payload)))

    transceiver.receiver._handle_rtp_packet = record  # type: ignore[method-assign]
    await pc.setLocalDescription(await pc.createOffer())
    body = {"sdp": pc.localDescription.sdp, "type": "offer"}
    async with session.post(f"{url}/offer", json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    return listener
