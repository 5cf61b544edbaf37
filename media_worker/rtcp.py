"""Listeners' RTCP, read without aiortc's objects.

Each listener sends a receiver report about once a second. Through aiortc it costs a trip
through aioice's queue, the DTLS transport's task, ``unpack_rtcp``'s objects and their
dispatch: tens of µs in Python, times thousands of listeners. Here the datagram is taken off
the shared socket (``UdpMux.intercept``), unprotected with the listener's own inbound SRTP
session, and its report blocks read with ``struct``: the latest is kept for ``/metrics``.

Feedback (RTPFB: NACK; PSFB: PLI...) is aiortc's business. A reduced-size one (RFC 5506)
shows its type in the clear: passed through untouched. One inside a compound packet is only
seen after unprotecting — and libsrtp would refuse the same packet twice (replay) — so the
plaintext is handed on (``forward``) instead.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aiortc import clock

SR, RR, RTPFB, PSFB = 200, 201, 205, 206
_HEADER = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IB3sIIII")  # ssrc, fraction lost, cumulative lost (24-bit signed), highest seq, jitter, lsr, dlsr
_SENDER_INFO = 20


@dataclass(frozen=True)
class ReportBlock:
    """One receiver's view of one source (RFC 3550 6.4.1)."""

    ssrc: int
    fraction_lost: float  # over the last report interval, 0..1
    packets_lost: int  # since the start (may be negative: duplicates)
    highest_sequence: int  # extended
    jitter: int  # RTP timestamp units (48 kHz for Opus)
    lsr: int
    dlsr: int


def report_blocks(plain: bytes) -> tuple[list[ReportBlock], bool]:
    """The report blocks of a compound RTCP packet (SR and RR; other packets skipped), and
    whether it carries feedback (RTPFB/PSFB). ``ValueError`` when malformed."""
    blocks: list[ReportBlock] = []
    feedback = False
    at = 0
    while at < len(plain):
        if at + 4 > len(plain):
            raise ValueError("truncated RTCP header")
        first, kind, words = _HEADER.unpack_from(plain, at)
        end = at + 4 + 4 * words
        if first >> 6 != 2 or end > len(plain):
            raise ValueError("not RTCP version 2, or longer than the datagram")
        if kind in (SR, RR):
            start = at + 8 + (_SENDER_INFO if kind == SR else 0)
            count = first & 0x1F
            if start + count * _BLOCK.size > end:
                raise ValueError("report blocks beyond the packet")
            for i in range(count):
                ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(plain, start + i * _BLOCK.size)
                blocks.append(ReportBlock(ssrc, fraction / 256, int.from_bytes(lost, "big", signed=True),
                                          highest, jitter, lsr, dlsr))
        elif kind in (RTPFB, PSFB):
            feedback = True
        at = end
    return blocks, feedback


def is_rtcp(datagram: bytes) -> bool:
    """RFC 5761 4 / RFC 7983: RTP or RTCP by the first byte, RTCP by its packet type (192–223)."""
    return len(datagram) >= 8 and 128 <= datagram[0] <= 191 and 192 <= datagram[1] <= 223


class ListenerReports:
    """One listener's latest receiver report about what the worker sends it.

    ``handle`` is the mux hook for the listener's address; ``session`` its inbound SRTP
    session (aiortc's ``dtls._rx_srtp``, set once DTLS is up); ``ssrc`` the worker's SSRC
    towards it (the block about it is kept; without it, the first block)."""

    def __init__(self, ssrc: int | None = None) -> None:
        self.ssrc = ssrc
        self.session: Any = None
        self.forward: Callable[[bytes], None] | None = None  # feedback's plaintext, to aiortc
        self.latest: ReportBlock | None = None
        self.received_at = 0.0  # time.monotonic() of the latest
        self.round_trip: float | None = None  # seconds, from the latest block quoting a sender report
        self.reports = 0  # RTCP datagrams consumed

    def handle(self, datagram: bytes) -> bool:
        """True when the datagram was this listener's RTCP and is dealt with; False leaves it
        to aiortc (not RTCP, reduced-size feedback, or not unprotectable with this session)."""
        session = self.session
        if session is None or not is_rtcp(datagram) or datagram[1] in (RTPFB, PSFB):
            return False
        try:
            plain = session.unprotect_rtcp(datagram)
        except pylibsrtp.Error:
            return False
        self.reports += 1
        try:
            blocks, feedback = report_blocks(plain)
        except ValueError:  # authentic but malformed: aiortc would drop it too (and could not
            return True  # unprotect it again: libsrtp refuses a replay)
        ours = [b for b in blocks if self.ssrc is None or b.ssrc == self.ssrc]
        if ours:
            latest = self.latest = ours[0]
            self.received_at = time.monotonic()
            if latest.lsr:  # RFC 3550 6.4.1: now − LSR − DLSR, in 1/65536 s (what aiortc's sender computed)
                now = (clock.current_ntp_time() >> 16) & 0xFFFFFFFF
                self.round_trip = ((now - latest.lsr - latest.dlsr) & 0xFFFFFFFF) / 65536
        if feedback and self.forward is not None:
            self.forward(plain)
        return True
