"""The fast fan-out path: send the room's already-encoded packets to a listener with one
RTP header, one SRTP protect and one ``sendto`` per packet, skipping ``RTCRtpSender``'s
per-packet machinery (its queue, its task switch, its stats).

This leans on aiortc/aioice internals — the sender's SSRC, the DTLS transport's SRTP
session, the ICE connection's nominated pair — all reached from here only.
``tests/media_worker/test_fastpath.py`` fails if an upgrade moves them.
"""

from __future__ import annotations

import random
import re
import struct
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack

_HEADER = struct.Struct("!BBHII")
_PAYLOAD_TYPE = re.compile(r"^m=audio \d+ \S+ (\d+)", re.MULTILINE)


def tune_jitter_buffers(pc: RTCPeerConnection, prefetch: int) -> None:
    """Hold ``prefetch`` packets (20 ms each) before decoding a speaker, instead of aiortc's 4
    (80 ms): the worker is one hop of several, and every hop's buffer adds up in the ear."""
    for transceiver in pc.getTransceivers():
        buffer = getattr(transceiver.receiver, "_RTCRtpReceiver__jitter_buffer", None)
        if buffer is not None and not buffer._is_video:
            buffer._prefetch = prefetch


class IdleTrack(MediaStreamTrack):
    """Negotiates the send direction and an SSRC, then never yields: the fast path sends."""

    kind = "audio"

    async def recv(self) -> Any:  # type: ignore[override]
        import asyncio

        await asyncio.Event().wait()


class FastSender:
    def __init__(self, pc: RTCPeerConnection, sender: RTCRtpSender):
        self._pc = pc
        self._sender = sender
        self._payload_type: int | None = None
        self._seq = random.randrange(1 << 16)
        self._ts_offset = random.randrange(1 << 32)
        self.sent = 0

    def deliver(self, packet: Any, data: bytes) -> bool:
        return self.push(data, int(packet.pts))

    def push(self, payload: bytes, pts: int) -> bool:
        """Send one encoded packet now; False while the connection is not up yet."""
        dtls = self._sender.transport
        if dtls is None or dtls.state != "connected" or dtls._tx_srtp is None:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            return False
        if self._payload_type is None:
            match = _PAYLOAD_TYPE.search(self._pc.localDescription.sdp) if self._pc.localDescription else None
            if match is None:
                return False
            self._payload_type = int(match.group(1))
        self._seq = (self._seq + 1) & 0xFFFF
        header = _HEADER.pack(0x80, self._payload_type, self._seq, (self._ts_offset + pts) & 0xFFFFFFFF, self._sender._ssrc)
        pair.protocol.transport.sendto(dtls._tx_srtp.protect(header + payload), pair.remote_addr)
        self.sent += 1
        return True
