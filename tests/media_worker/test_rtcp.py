"""Listeners' RTCP read without aiortc's objects (media_worker.rtcp): the same numbers as
aiortc's parser, through real libsrtp sessions, and left alone when it is not ours to read."""

from __future__ import annotations

import random

import pytest
from aiortc.rtp import (
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
)
from pylibsrtp import Policy, Session

from media_worker.rtcp import ListenerReports, report_blocks

KEY = bytes(range(30))  # 16-byte master key + 14-byte salt
WORKER_SSRC = 0x1234ABCD


def sessions() -> tuple[Session, Session]:
    """A listener's outbound SRTP session and the worker's inbound one, keyed alike."""
    return (Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND)),
            Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND)))


def block(rng: random.Random, ssrc: int | None = None) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(ssrc=ssrc if ssrc is not None else rng.getrandbits(32), fraction_lost=rng.randrange(256),
                            packets_lost=rng.randrange(-(1 << 23), 1 << 23), highest_sequence=rng.getrandbits(32),
                            jitter=rng.getrandbits(32), lsr=rng.getrandbits(32), dlsr=rng.getrandbits(32))


def compound(rng: random.Random) -> bytes:
    """A compound packet of a random shape: an SR or an RR with 0–3 blocks first, then some of
    SDES, BYE, another RR."""
    blocks = [block(rng) for _ in range(rng.randrange(4))]
    if rng.random() < 0.5:
        info = RtcpSenderInfo(ntp_timestamp=rng.getrandbits(64), rtp_timestamp=rng.getrandbits(32),
                              packet_count=rng.getrandbits(32), octet_count=rng.getrandbits(32))
        packets: list = [RtcpSrPacket(ssrc=rng.getrandbits(32), sender_info=info, reports=blocks)]
    else:
        packets = [RtcpRrPacket(ssrc=rng.getrandbits(32), reports=blocks)]
    extras = [RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=1, items=[(1, b"listener-cname")])]),
              RtcpByePacket(sources=[rng.getrandbits(32)]), RtcpRrPacket(ssrc=2, reports=[block(rng)])]
    packets += rng.sample(extras, rng.randrange(len(extras) + 1))
    return b"".join(bytes(p) for p in packets)


@pytest.mark.parametrize("seed", range(40))
def test_report_blocks_agree_with_aiortcs_parser(seed):
    rng = random.Random(seed)
    data = compound(rng)
    ours, feedback = report_blocks(data)
    theirs = [r for p in RtcpPacket.parse(data) if isinstance(p, (RtcpRrPacket, RtcpSrPacket)) for r in p.reports]
    assert not feedback
    assert [(b.ssrc, round(b.fraction_lost * 256), b.packets_lost, b.highest_sequence, b.jitter, b.lsr, b.dlsr)
            for b in ours] == [(r.ssrc, r.fraction_lost, r.packets_lost, r.highest_sequence, r.jitter, r.lsr, r.dlsr)
                               for r in theirs]


def test_a_truncated_packet_is_malformed():
    data = bytes(RtcpRrPacket(ssrc=1, reports=[block(random.Random(1))]))
    with pytest.raises(ValueError):
        report_blocks(data[:-4])
    with pytest.raises(ValueError):
        report_blocks(b"\x00" + data[1:])  # version 0


def test_a_listeners_protected_report_is_read_and_consumed_keeping_the_block_about_the_worker():
    tx, rx = sessions()
    rng = random.Random(7)
    about_us, about_other = block(rng, WORKER_SSRC), block(rng)
    reports = ListenerReports(WORKER_SSRC)
    reports.session = rx
    rr = RtcpRrPacket(ssrc=99, reports=[about_other, about_us])
    sdes = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=99, items=[(1, b"x")])])
    assert reports.handle(tx.protect_rtcp(bytes(rr) + bytes(sdes)))
    latest = reports.latest
    assert latest is not None and latest.ssrc == WORKER_SSRC and latest.packets_lost == about_us.packets_lost
    assert latest.fraction_lost == about_us.fraction_lost / 256 and latest.jitter == about_us.jitter
    assert reports.reports == 1


def test_what_is_not_a_listeners_rtcp_is_left_to_aiortc():
    tx, rx = sessions()
    reports = ListenerReports(WORKER_SSRC)
    rr = bytes(RtcpRrPacket(ssrc=99, reports=[block(random.Random(3), WORKER_SSRC)]))
    assert not reports.handle(tx.protect_rtcp(rr)), "no session yet (DTLS not up): aiortc's"
    reports.session = rx
    rtp = tx.protect(RtpPacket(payload_type=111, sequence_number=1, timestamp=960, ssrc=5, payload=b"\x01" * 20).serialize())
    assert not reports.handle(rtp), "RTP"
    assert not reports.handle(b"\x00\x01\x00\x00" + bytes(16)), "STUN"
    assert not reports.handle(b"\x16\xfe\xfd" + bytes(20)), "DTLS"
    protected = bytearray(tx.protect_rtcp(rr))
    protected[12] ^= 0xFF
    assert not reports.handle(bytes(protected)), "corrupted: its authentication fails"
    other_tx = Session(Policy(key=bytes(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    assert not reports.handle(other_tx.protect_rtcp(rr)), "another key"
    assert reports.latest is None and reports.reports == 0


def test_feedback_reaches_aiortc():
    tx, rx = sessions()
    reports = ListenerReports(WORKER_SSRC)
    reports.session = rx
    forwarded: list[bytes] = []
    reports.forward = forwarded.append
    # Reduced-size (RFC 5506): its type is in the clear, it is passed through untouched, and
    # aiortc's own session can still unprotect it (libsrtp would refuse it a second time).
    pli = tx.protect_rtcp(bytes(RtcpPsfbPacket(fmt=1, ssrc=99, media_ssrc=WORKER_SSRC)))
    assert not reports.handle(pli)
    assert rx.unprotect_rtcp(pli)
    # Inside a compound packet: the report is read, the plaintext handed on.
    rr = RtcpRrPacket(ssrc=99, reports=[block(random.Random(5), WORKER_SSRC)])
    nack = RtcpRtpfbPacket(fmt=1, ssrc=99, media_ssrc=WORKER_SSRC, lost=[10, 12])
    plain = bytes(rr) + bytes(nack)
    assert reports.handle(tx.protect_rtcp(plain))
    assert forwarded == [plain] and reports.latest is not None
    assert reports.handle(tx.protect_rtcp(bytes(rr))) and forwarded == [plain], "no feedback, nothing handed on"
