"""A listener for load tests that does not decode: it completes ICE and DTLS-SRTP like any
peer, then only records when each RTP packet arrived and how big its payload was.

Decoding (or even decrypting) hundreds of streams would saturate the load generator's one
core long before the worker; without it the generator measures the worker. SRTP leaves the
RTP header in the clear, so the SSRC and the payload size are read straight off the
datagram as it comes off the socket, before aioice's STUN parsing and aiortc's SRTP. Tone
bursts show in the payload size (Opus spends far fewer bytes on silence), so sizes
mark them (for the delay, ``wiretap.py`` reads the same headers with kernel timestamps).
Everything else (STUN, DTLS, RTCP) takes aiortc's normal path.
(Bench-only: wraps the datagram handler of this peer's own ICE sockets.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.media.wiretap import rtp_payload

LOUD_PAYLOAD_BYTES = 40  # a 20 ms Opus frame of tone at 32 kbit/s is ~80 bytes, of silence a handful


@dataclass
class RawListener:
    pc: RTCPeerConnection
    packets: list[tuple[float, int]] = field(default_factory=list)  # (arrival, payload bytes)
    ssrc: int | None = None  # the worker's stream to this listener

    def received_between(self, start: float, end: float) -> int:
        return sum(1 for t, _ in self.packets if start <= t <= end)

    async def close(self) -> None:
        await self.pc.close()


def record_rtp_on_arrival(ice_transport, listener: RawListener) -> None:  # type: ignore[no-untyped-def]
    for protocol in ice_transport._connection._protocols:
        handle = protocol.datagram_received

        def received(data: bytes, addr, handle=handle) -> None:  # type: ignore[no-untyped-def]
            parsed = rtp_payload(data)
            if parsed is None:
                handle(data, addr)
            else:
                listener.ssrc, size = parsed
                listener.packets.append((time.monotonic(), size))

        protocol.datagram_received = received


async def raw_listener(session: aiohttp.ClientSession, offer_url: str, token: str) -> RawListener:
    """A listener that offers at ``offer_url`` (the API's, or a worker's ``/offer`` with a grant)."""
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio", direction="recvonly")
    listener = RawListener(pc)

    await pc.setLocalDescription(await pc.createOffer())
    record_rtp_on_arrival(transceiver.receiver.transport.transport, listener)
    body = {"sdp": pc.localDescription.sdp, "type": "offer"}
    async with session.post(offer_url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    return listener
