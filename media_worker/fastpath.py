"""The fast fan-out path: send the room's already-encoded packets to a listener with one
RTP header, one SRTP protect and one ``sendto`` per packet, skipping ``RTCRtpSender``'s
per-packet machinery (its queue, its task switch, its stats).

This leans on aiortc/aioice internals — the sender's SSRC and RTCP loop, the DTLS
transport's SRTP session, the ICE connection's nominated pair, the receiver's jitter buffer —
all reached from here only.
``tests/media_worker/test_fastpath.py`` fails if an upgrade moves them.
"""

from __future__ import annotations

import asyncio
import random
import re
import struct
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any, Callable

from aiortc import RTCPeerConnection, RTCRtpSender, clock
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import AnyRtcpPacket, RtcpRrPacket, RtcpSenderInfo, RtcpSrPacket, RtpPacket
from aiortc.utils import uint16_add
from pylibsrtp import Session

from media_worker.mixer import SAMPLE_RATE
from media_worker.rtcp import ListenerReports
from media_worker.udpmux import MuxTransport, UdpMux

if TYPE_CHECKING:
    from media_worker.batch import Fanout

_HEADER = struct.Struct("!BBHII")
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_LAST_SR = "_RTCRtpSender__lsr"  # the middle of the last report's NTP time, matched against receiver reports
_PACKETS_SENT, _OCTETS_SENT = "_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count"  # its getStats()
_PAYLOAD_TYPE = re.compile(r"^m=audio \d+ \S+ (\d+)", re.MULTILINE)


class ImmediateAudioBuffer(JitterBuffer):
    """Hands each audio packet to the decoder as it arrives. An Opus packet is a whole
    frame, but aiortc's buffer (built for video frames split over packets) only knows a
    frame is complete when the next packet arrives: 20 ms more, whatever its prefetch.
    Packets older than the last one handed on are dropped (too late to be heard); the
    room's playout buffer absorbs the jitter instead (``media_worker/playout.py``)."""

    def __init__(self) -> None:
        super().__init__(capacity=16)
        self._last: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._last is not None and not 0 < uint16_add(packet.sequence_number, -self._last) < 0x8000:
            return False, None  # a duplicate, or older than what was already decoded
        self._last = packet.sequence_number
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def tune_jitter_buffers(pc: RTCPeerConnection, prefetch: int) -> None:
    """How long a speaker's packets wait before decoding. 0: not at all
    (``ImmediateAudioBuffer``); n: aiortc's buffer holding n packets (its default is 4,
    80 ms). The worker is one hop of several, and every hop's buffer adds up in the ear."""
    for transceiver in pc.getTransceivers():
        buffer = getattr(transceiver.receiver, _JITTER_BUFFER, None)
        if buffer is None or buffer._is_video:
            continue
        if prefetch == 0:
            setattr(transceiver.receiver, _JITTER_BUFFER, ImmediateAudioBuffer())
        else:
            buffer._prefetch = prefetch


class IdleTrack(MediaStreamTrack):
    """Negotiates the send direction and an SSRC, then never yields: the fast path sends."""

    kind = "audio"

    async def recv(self) -> Any:  # type: ignore[override]
        import asyncio

        await asyncio.Event().wait()


@dataclass(frozen=True)
class _Route:
    """What sending to one listener needs, looked up once the connection is up."""

    header: Callable[[int, int], bytes]  # (sequence number, RTP timestamp) -> RTP header
    session: Session  # the DTLS-keyed SRTP session
    transport: asyncio.DatagramTransport  # the nominated pair's socket
    address: Any
    payload_type: int

    @property
    def fd(self) -> int:
        sock = self.transport.get_extra_info("socket")
        return sock.fileno() if sock is not None else -1

    def same_as(self, other: _Route) -> bool:
        return (self.session is other.session and self.transport is other.transport and self.address == other.address)


class FastSender:
    """Sends one listener's packets past its ``RTCRtpSender``, and reports them: aiortc's
    RTCP loop for that sender (a report every 0.5–1.5 s, a BYE at the end) still runs, but
    its sender reports would count what that sender sent, nothing; browsers build their
    ``remote-outbound-rtp`` stats from the reports (and lip-sync from their NTP/RTP pair). The
    loop's reports are rewritten with the fast path's counts instead (``_send_rtcp``): a
    packet costs two counters and a clock read more, a report is built once a second."""

    RECHECK_EVERY = 50  # packets (one second) between looking the route up again

    def __init__(self, pc: RTCPeerConnection, sender: RTCRtpSender, mux: UdpMux | None = None):
        self._pc = pc
        self._sender = sender
        self._mux = mux
        self._opus_payload_type: int | None = None
        self.reports = ListenerReports()  # the listener's receiver reports, when its pair is on the mux
        self._route: _Route | None = None
        self._until_recheck = 0
        self._seq = random.randrange(1 << 16)
        self._ts_offset = random.randrange(1 << 32)
        self.sent = 0  # packets and payload octets, as a sender report counts them
        self.octets = 0
        self._last_timestamp = 0  # the last packet's RTP timestamp, and when it went out
        self._last_at = 0.0
        self._send_aiortc_rtcp = sender._send_rtcp
        sender._send_rtcp = self._send_rtcp  # type: ignore[method-assign]

    def deliver(self, packet: Any, data: bytes) -> bool:
        return self.push(data, int(packet.pts))

    def push(self, payload: bytes, pts: int) -> bool:
        """Send one encoded packet now; False while the connection is not up (yet, or any
        more). The route is looked up again every second, and at once when its socket closes
        (aioice closes it when consent expires: sending on it would raise)."""
        route = self._route
        if route is None or self._until_recheck <= 0 or route.transport.is_closing():
            route = self._route = self._lookup()
            self._until_recheck = self.RECHECK_EVERY
            if route is None:
                return False
        self._until_recheck -= 1
        self._seq = (self._seq + 1) & 0xFFFF
        timestamp = (self._ts_offset + pts) & 0xFFFFFFFF
        route.transport.sendto(route.session.protect(route.header(self._seq, timestamp) + payload), route.address)
        self.sent += 1
        self.octets += len(payload)
        self._last_timestamp = timestamp
        self._last_at = monotonic()
        return True

    def sender_report(self) -> RtcpSrPacket | RtcpRrPacket:
        """What has been sent so far (RFC 3550 6.4.1): packets, payload octets, and now as
        both an NTP time and an RTP timestamp (the last packet's, advanced by the time since
        it went out). Before the first packet, an empty receiver report (6.4: a participant
        that has sent nothing sends no sender report)."""
        ssrc = self._sender._ssrc
        sent, octets, last_timestamp, last_at = self.counts()
        if not sent:
            return RtcpRrPacket(ssrc=ssrc)
        ntp = clock.current_ntp_time()
        since = round((monotonic() - last_at) * SAMPLE_RATE)
        info = RtcpSenderInfo(ntp_timestamp=ntp, rtp_timestamp=(last_timestamp + since) & 0xFFFFFFFF,
                              packet_count=sent & 0xFFFFFFFF, octet_count=octets & 0xFFFFFFFF)
        return RtcpSrPacket(ssrc=ssrc, sender_info=info)

    def counts(self) -> tuple[int, int, int, float]:
        """Packets and payload octets sent, the last one's RTP timestamp and when it went out."""
        return self.sent, self.octets, self._last_timestamp, self._last_at

    async def _send_rtcp(self, packets: list[AnyRtcpPacket]) -> None:
        """aiortc's RTCP loop sending for this sender: its sender report replaced by ours. The
        receiver's reports quote our NTP time back (LSR): aiortc's round-trip estimate for
        this listener (``remote-inbound-rtp``) matches them against the one noted here. The
        sender's own stats (``outbound-rtp``) get our counts too, as of this report."""
        ours = [self.sender_report() if isinstance(p, RtcpSrPacket) else p for p in packets]
        for packet in ours:
            if isinstance(packet, RtcpSrPacket):
                info = packet.sender_info
                setattr(self._sender, _LAST_SR, (info.ntp_timestamp >> 16) & 0xFFFFFFFF)
                setattr(self._sender, _PACKETS_SENT, info.packet_count)
                setattr(self._sender, _OCTETS_SENT, info.octet_count)
        await self._send_aiortc_rtcp(ours)

    def _lookup(self) -> _Route | None:
        dtls = self._sender.transport
        if dtls is None or dtls.state != "connected" or dtls._tx_srtp is None:
            return None
        pair = dtls.transport._connection._nominated.get(1)
        payload_type = self._payload_type()
        if pair is None or payload_type is None:
            return None
        transport = getattr(pair.protocol, "transport", None)
        if transport is None or transport.is_closing():
            return None
        ssrc = self._sender._ssrc
        if self._mux is not None and isinstance(transport, MuxTransport):
            self._read_reports_on_mux(dtls, ssrc, pair.remote_addr)

        def header(seq: int, timestamp: int) -> bytes:
            return _HEADER.pack(0x80, payload_type, seq, timestamp, ssrc)

        return _Route(header, dtls._tx_srtp, transport, pair.remote_addr, payload_type)

    def _payload_type(self) -> int | None:
        """Opus's payload type in our answer (read once: the answer does not change)."""
        if self._opus_payload_type is None and (description := self._pc.localDescription) is not None:
            if match := _PAYLOAD_TYPE.search(description.sdp):
                self._opus_payload_type = int(match.group(1))
        return self._opus_payload_type

    def _read_reports_on_mux(self, dtls: Any, ssrc: int, remote: Any) -> None:
        """The listener's RTCP off the mux (media_worker.rtcp), unprotected with its inbound SRTP
        session; feedback inside a compound packet still reaches aiortc, as plaintext."""
        reports = self.reports
        reports.ssrc, reports.session = ssrc, dtls._rx_srtp
        reports.forward = lambda plain: asyncio.ensure_future(dtls._handle_rtcp_data(plain))  # type: ignore[assignment]
        assert self._mux is not None
        self._mux.intercept((remote[0], remote[1]), reports.handle)


class BatchSender(FastSender):
    """A listener on the batch path (``media_worker.batch``): its packets go out with
    everyone else's in one compiled call per packet, from its slot in the broadcast's fanout
    (``mixer.BatchSink``). Only the route is Python's: looked up when the connection comes
    up, checked again about once a second, given back when the connection goes. Its RTP
    stream (SSRC, sequence numbers, timestamps) carries on across route changes, and its
    sender reports count what its slots sent."""

    def __init__(self, pc: RTCPeerConnection, sender: RTCRtpSender, mux: UdpMux | None = None):
        super().__init__(pc, sender, mux)
        self._fanout: Fanout | None = None
        self._slot: int | None = None
        self._joined_route: _Route | None = None

    def join(self, fanout: Fanout) -> bool:
        route = self._lookup()
        if route is None:
            return False
        self._fanout, self._joined_route = fanout, route
        self._slot = fanout.add(route.session, route.fd, route.address, self._sender._ssrc, route.payload_type,
                                self._seq, self._ts_offset)
        return True

    def still_joined(self) -> bool:
        if self._fanout is None or self._slot is None or self._joined_route is None:
            return False
        route = self._lookup()
        if route is None:
            self.leave()
            return False
        if not route.same_as(self._joined_route):
            self._fanout.update(self._slot, route.session, route.fd, route.address)
            self._joined_route = route
        return True

    def leave(self) -> None:
        """Give the slot back, keeping its counts and where its stream had got to."""
        if self._fanout is not None and self._slot is not None:
            self.sent, self.octets, self._last_timestamp, self._last_at = self.counts()
            self._seq = self._fanout.stats(self._slot).seq
            self._fanout.remove(self._slot)
        self._fanout = self._slot = self._joined_route = None

    def counts(self) -> tuple[int, int, int, float]:
        if self._fanout is None or self._slot is None:
            return super().counts()
        stats = self._fanout.stats(self._slot)
        if not stats.sent:
            return super().counts()
        return (self.sent + stats.sent, self.octets + stats.octets, stats.last_timestamp, stats.last_sent_at)

    def deliver(self, packet: Any, data: bytes) -> bool:
        raise RuntimeError("a batch sender's packets go through its broadcast's fanout")
