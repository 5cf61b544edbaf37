"""The batch fan-out (media_worker/batch.py, media_worker/fanout.c): each listener gets the
packet pylibsrtp would have made for it, on real UDP sockets, whatever happens to the others;
both implementations keep the same rules and make the same bytes. Also the pylibsrtp
internals the compiled one relies on (this test fails first if an upgrade moves them)."""

from __future__ import annotations

import errno
import inspect
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from time import monotonic

import pylibsrtp
import pytest

from media_worker import batch
from media_worker.batch import PAYLOAD_MAX, CompiledFanoutUnavailable, Fanout, new_fanout

ROOT = Path(__file__).resolve().parents[2]
KEY = bytes(range(1, 31))  # AES_CM_128_HMAC_SHA1_80: a 16-byte key and a 14-byte salt
PAYLOAD = b"\xfc\xff\xfe" + bytes(range(60))  # an Opus packet's worth
PT = 111
HEADER = struct.Struct("!BBHII")

IMPLEMENTATIONS = ["compiled", "python"]


def session(key: bytes = KEY, inbound: bool = False) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=key, srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
                              ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    return pylibsrtp.Session(policy)


def rtp(seq: int, timestamp: int, ssrc: int, payload: bytes = PAYLOAD) -> bytes:
    return HEADER.pack(0x80, PT, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


@pytest.fixture
def udp() -> Iterator:
    """Makes UDP sockets bound on 127.0.0.1 (closed at the end)."""
    made: list[socket.socket] = []

    def make(family: int = socket.AF_INET) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close()


def receive(sock: socket.socket, count: int) -> list[tuple[bytes, tuple]]:
    """``count`` datagrams (and who sent them), then nothing more."""
    got = []
    sock.settimeout(2)
    for _ in range(count):
        got.append(sock.recvfrom(2048))
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        extra = sock.recvfrom(2048)
        pytest.fail(f"one datagram too many: {extra!r}")
    return got


def decode(receiver: pylibsrtp.Session, datagram: bytes) -> tuple[int, int, int, int, bytes]:
    """(payload type, seq, timestamp, ssrc, payload) of what a listener's browser would read."""
    packet = receiver.unprotect(datagram)
    first, payload_type, seq, timestamp, ssrc = HEADER.unpack_from(packet)
    assert first == 0x80
    return payload_type, seq, timestamp, ssrc, packet[HEADER.size:]


@pytest.fixture(params=IMPLEMENTATIONS)
def fanout(request) -> Fanout:
    made = new_fanout(request.param)
    assert made.implementation == request.param
    return made


def test_the_pylibsrtp_internals_the_compiled_fanout_uses_are_there():
    from pylibsrtp._binding import ffi, lib

    assert ffi.typeof(ffi.addressof(lib, "srtp_protect")) is ffi.typeof("srtp_err_status_t(*)(srtp_t, void *, int *)")
    assert batch.srtp_protect_address() == int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect"))) != 0
    listener = session()
    assert ffi.typeof(listener._srtp) is ffi.typeof("srtp_t *")
    assert batch.srtp_context(listener) == int(ffi.cast("uintptr_t", listener._srtp[0])) != 0
    assert lib.srtp_err_status_ok == 0  # fanout.c: any other status is a failure
    assert pylibsrtp.SRTP_MAX_TRAILER_LEN == 16 + 128  # fanout.c's room for the trailer
    assert "lib.srtp_protect, SRTP_MAX_TRAILER_LEN" in inspect.getsource(pylibsrtp.Session.protect)  # the same function
    assert "1500" in inspect.getsource(pylibsrtp.Session.__init__)  # its buffer: PAYLOAD_MAX's bound
    assert pylibsrtp.ERRORS[9] == "replay check failed (bad index)"  # the statuses behind pylibsrtp's messages
    assert batch.PAYLOAD_MAX == 1344 == new_fanout("compiled")._lib.FANOUT_PAYLOAD_MAX  # type: ignore[attr-defined]


@pytest.mark.parametrize("first_seq", [1000, 65533], ids=["mid-range", "wrapping"])
def test_each_datagram_is_the_one_pylibsrtp_makes_for_the_same_packet(fanout, udp, first_seq):
    """Also across a sequence-number wrap (65535 -> 0): the rollover counter moves the same."""
    out, ear = udp(), udp()
    reference = session()
    slot = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=0x1234ABCD, payload_type=PT, seq=first_seq - 1,
                      ts_offset=5000)
    for n in range(6):
        assert fanout.send(PAYLOAD, pts=960 * n) == 1
    expected = [reference.protect(rtp(first_seq + n, 5000 + 960 * n, 0x1234ABCD)) for n in range(6)]
    assert [datagram for datagram, _ in receive(ear, 6)] == expected
    assert fanout.stats(slot).seq == (first_seq + 5) & 0xFFFF


def test_a_listener_decodes_its_stream(fanout, udp):
    out, ear = udp(), udp()
    fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=77, payload_type=PT, seq=65530, ts_offset=0xFFFFF000)
    for n in range(10):
        fanout.send(PAYLOAD + bytes([n]), pts=960 * n)
    receiver = session(inbound=True)
    decoded = [decode(receiver, datagram) for datagram, _ in receive(ear, 10)]
    assert [(pt, ssrc) for pt, _, _, ssrc, _ in decoded] == [(PT, 77)] * 10
    assert [seq for _, seq, _, _, _ in decoded] == [(65531 + n) & 0xFFFF for n in range(10)]  # consecutive, wrapping
    assert [ts for _, _, ts, _, _ in decoded] == [(0xFFFFF000 + 960 * n) & 0xFFFFFFFF for n in range(10)]
    assert [payload for _, _, _, _, payload in decoded] == [PAYLOAD + bytes([n]) for n in range(10)]


def test_the_session_is_the_listeners_own(fanout, udp):
    """The fan-out protects with the very session it is given (aiortc's): after a wrap sent by the
    fan-out, a packet protected by pylibsrtp on that session carries the moved rollover counter,
    and its RTCP (aiortc's sender reports) still protects."""
    out, ear = udp(), udp()
    listener, reference = session(), session()
    fanout.add(listener, out.fileno(), ear.getsockname(), ssrc=9, payload_type=PT, seq=65534, ts_offset=0)
    for n in range(3):  # 65535, 0, 1
        fanout.send(PAYLOAD, pts=960 * n)
        reference.protect(rtp((65535 + n) & 0xFFFF, 960 * n, 9))
    assert listener.protect(rtp(2, 2880, 9)) == reference.protect(rtp(2, 2880, 9))
    report = bytes([0x80, 200, 0, 6]) + struct.pack("!I", 9) + bytes(20)
    assert listener.protect_rtcp(report) == reference.protect_rtcp(report)


def test_five_hundred_listeners_on_one_socket_hear_one_send(fanout, udp):
    """The worker shares one UDP socket among every listener: one call reaches them all."""
    out = udp()
    ears = [udp() for _ in range(5)]
    for n in range(500):
        fanout.add(session(), out.fileno(), ears[n % 5].getsockname(), ssrc=10_000 + n, payload_type=PT, seq=n * 100,
                   ts_offset=n)
    assert len(fanout) == 500
    assert fanout.send(PAYLOAD, pts=960) == 500
    for index, ear in enumerate(ears):
        receiver = session(inbound=True)
        heard = sorted(decode(receiver, datagram)[1:4] for datagram, _ in receive(ear, 100))
        assert heard == sorted(((n * 100 + 1) & 0xFFFF, n + 960, 10_000 + n) for n in range(index, 500, 5))


def test_listeners_on_different_sockets_get_theirs_from_their_own(fanout, udp):
    first, second, ear = udp(), udp(), udp()
    for n in range(6):
        fanout.add(session(), (first if n % 2 else second).fileno(), ear.getsockname(), ssrc=n, payload_type=PT, seq=0,
                   ts_offset=0)
    assert fanout.send(PAYLOAD, pts=0) == 6
    receiver = session(inbound=True)
    senders = {decode(receiver, datagram)[3]: source for datagram, source in receive(ear, 6)}
    assert senders == {n: (first if n % 2 else second).getsockname() for n in range(6)}


def test_a_removed_listener_hears_nothing_more_and_the_others_keep_their_slots(fanout, udp):
    out = udp()
    ears = [udp() for _ in range(4)]
    slots = [fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=n, payload_type=PT, seq=0, ts_offset=0)
             for n, ear in enumerate(ears)]
    fanout.send(PAYLOAD, pts=0)
    fanout.remove(slots[1])
    assert len(fanout) == 3
    with pytest.raises(KeyError):
        fanout.stats(slots[1])
    with pytest.raises(KeyError):
        fanout.remove(slots[1])
    assert fanout.send(PAYLOAD, pts=960) == 3
    assert len(receive(ears[1], 1)) == 1  # the first packet only
    for n in (0, 2, 3):
        assert len(receive(ears[n], 2)) == 2
        assert fanout.stats(slots[n]).sent == 2 and fanout.stats(slots[n]).seq == 2
    again = fanout.add(session(), out.fileno(), ears[1].getsockname(), ssrc=1, payload_type=PT, seq=40, ts_offset=0)
    assert again not in (slots[0], slots[2], slots[3]) and len(fanout) == 4
    assert fanout.send(PAYLOAD, pts=1920) == 4
    assert decode(session(inbound=True), receive(ears[1], 1)[0][0])[1] == 41


def test_an_updated_listener_moves_and_its_stream_goes_on(fanout, udp):
    """A new ICE pair (another socket, another address) or a new DTLS session: same stream."""
    first, second, before, after = udp(), udp(), udp(), udp()
    old, new = session(), session(key=bytes(range(100, 130)))
    slot = fanout.add(old, first.fileno(), before.getsockname(), ssrc=5, payload_type=PT, seq=100, ts_offset=10)
    fanout.send(PAYLOAD, pts=0)
    fanout.update(slot, new, second.fileno(), after.getsockname())
    fanout.send(PAYLOAD, pts=960)
    assert decode(session(inbound=True), receive(before, 1)[0][0])[1:4] == (101, 10, 5)
    [(datagram, source)] = receive(after, 1)
    assert source == second.getsockname()
    assert decode(session(key=bytes(range(100, 130)), inbound=True), datagram)[1:4] == (102, 970, 5)
    assert fanout.stats(slot).sent == 2
    with pytest.raises(KeyError):
        fanout.update(slot + 1000, new, second.fileno(), after.getsockname())


def test_stats_count_what_the_kernel_took(fanout, udp):
    out, ear = udp(), udp()
    slot = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=5, payload_type=PT, seq=7, ts_offset=1000)
    fresh = fanout.stats(slot)
    assert (fresh.sent, fresh.octets, fresh.last_sent_at, fresh.errors, fresh.seq) == (0, 0, 0.0, 0, 7)
    before = monotonic()
    fanout.send(PAYLOAD, pts=960)
    fanout.send(PAYLOAD[:10], pts=1920)
    after = monotonic()
    stats = fanout.stats(slot)
    assert (stats.sent, stats.octets, stats.last_timestamp, stats.errors, stats.last_error, stats.seq) == \
        (2, len(PAYLOAD) + 10, 1000 + 1920, 0, 0, 9)
    assert before <= stats.last_sent_at <= after  # time.monotonic's clock


def test_a_refused_address_costs_that_listener_only(fanout, udp):
    """The broadcast address (no SO_BROADCAST) in the middle of a socket's run: its packet is
    dropped and counted, the ones after it on the same socket still go."""
    out = udp()
    ears = [udp() for _ in range(4)]
    slots = [fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=n, payload_type=PT, seq=0, ts_offset=0)
             for n, ear in enumerate(ears)]
    bad = fanout.add(session(), out.fileno(), ("255.255.255.255", 9), ssrc=99, payload_type=PT, seq=0, ts_offset=0)
    late = udp()
    slots.append(fanout.add(session(), out.fileno(), late.getsockname(), ssrc=4, payload_type=PT, seq=0, ts_offset=0))
    for pts in (0, 960, 1920):  # the batch's start moves: the bad one is first, middle and last
        assert fanout.send(PAYLOAD, pts=pts) == 5
    for ear in [*ears, late]:
        assert len(receive(ear, 3)) == 3
    stats = fanout.stats(bad)
    assert (stats.sent, stats.errors, stats.last_error, stats.seq) == (0, 3, errno.EACCES, 3)
    assert all(fanout.stats(slot).errors == 0 and fanout.stats(slot).sent == 3 for slot in slots)


def test_an_address_of_another_family_costs_that_listener_only(fanout, udp):
    out, ear = udp(), udp()
    ours = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=1, payload_type=PT, seq=0, ts_offset=0)
    other = fanout.add(session(), out.fileno(), ("::1", 9, 0, 0), ssrc=2, payload_type=PT, seq=0, ts_offset=0)
    assert fanout.send(PAYLOAD, pts=0) == 1
    assert len(receive(ear, 1)) == 1
    assert fanout.stats(ours).sent == 1
    assert (fanout.stats(other).errors, fanout.stats(other).last_error) == (1, errno.EAFNOSUPPORT)


def test_a_dual_stack_socket_reaches_ipv4_listeners(fanout, udp):
    """A worker's shared socket may be IPv6 taking IPv4 too: IPv4 addresses go out on it as such."""
    out = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    out.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    out.bind(("::", 0))
    ear = udp()
    try:
        slot = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=1, payload_type=PT, seq=0, ts_offset=0)
        assert fanout.send(PAYLOAD, pts=0) == 1
        [(datagram, source)] = receive(ear, 1)
        assert decode(session(inbound=True), datagram)[1] == 1 and source[1] == out.getsockname()[1]
        assert fanout.stats(slot).errors == 0
    finally:
        out.close()


def test_a_closed_or_not_a_socket_descriptor_costs_its_listeners_only(fanout, udp):
    out, ear, closed = udp(), udp(), udp()
    with open(os.devnull, "rb") as not_a_socket:
        closed_fd = closed.fileno()
        closed.close()  # its number stays free: nothing below opens a file
        good = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=1, payload_type=PT, seq=0, ts_offset=0)
        gone = fanout.add(session(), closed_fd, ear.getsockname(), ssrc=2, payload_type=PT, seq=0, ts_offset=0)
        wrong = fanout.add(session(), not_a_socket.fileno(), ear.getsockname(), ssrc=3, payload_type=PT, seq=0, ts_offset=0)
        assert fanout.send(PAYLOAD, pts=0) == 1
        assert fanout.send(PAYLOAD, pts=960) == 1
    assert len(receive(ear, 2)) == 2
    assert fanout.stats(good).sent == 2
    assert (fanout.stats(gone).errors, fanout.stats(gone).last_error) == (2, errno.EBADF)
    assert (fanout.stats(wrong).errors, fanout.stats(wrong).last_error) == (2, errno.ENOTSOCK)


def test_the_callers_socket_stays_open(fanout, udp):
    out, ear = udp(), udp()
    slot = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=1, payload_type=PT, seq=0, ts_offset=0)
    fanout.send(PAYLOAD, pts=0)
    fanout.remove(slot)
    del fanout
    out.sendto(b"still open", ear.getsockname())
    assert [datagram for datagram, _ in receive(ear, 2)][1] == b"still open"


def test_the_batch_starts_one_listener_further_each_time(fanout, udp):
    """So a full socket buffer does not always cost the same listeners their packets."""
    out, ear = udp(), udp()
    for n in range(3):
        fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=n, payload_type=PT, seq=0, ts_offset=0)
    for _ in range(3):
        fanout.send(PAYLOAD, pts=0)
    receiver = session(inbound=True)
    order = [decode(receiver, datagram)[3] for datagram, _ in receive(ear, 9)]
    assert order == [0, 1, 2, 1, 2, 0, 2, 0, 1]


def test_a_payload_too_long_for_a_packet_is_refused_before_any_is_sent(fanout, udp):
    out, ear = udp(), udp()
    slot = fanout.add(session(), out.fileno(), ear.getsockname(), ssrc=1, payload_type=PT, seq=0, ts_offset=0)
    with pytest.raises(ValueError):
        fanout.send(bytes(PAYLOAD_MAX + 1), pts=0)
    assert fanout.stats(slot).seq == 0
    assert fanout.send(bytes(PAYLOAD_MAX), pts=0) == 1  # the largest that fits is whole
    assert decode(session(inbound=True), receive(ear, 1)[0][0])[4] == bytes(PAYLOAD_MAX)


def test_an_address_must_be_numeric(fanout, udp):
    with pytest.raises(ValueError):
        fanout.add(session(), udp().fileno(), ("localhost", 9), ssrc=1, payload_type=PT, seq=0, ts_offset=0)
    assert len(fanout) == 0


def test_an_empty_fanout_sends_nothing(fanout):
    assert fanout.send(PAYLOAD, pts=0) == 0 and len(fanout) == 0


def test_the_fallback_sends_the_same_bytes_as_the_compiled_fanout(udp):
    compiled, python = new_fanout("compiled"), new_fanout("python")
    outs, ears = [udp() for _ in range(2)], [udp() for _ in range(2)]
    for fanout, out, ear in zip((compiled, python), outs, ears, strict=True):
        for n in range(3):
            fanout.add(session(key=bytes([n + 1]) * 30), out.fileno(), ear.getsockname(), ssrc=n, payload_type=PT,
                       seq=65534 - n, ts_offset=0xFFFFFF00 + n)
        for n in range(4):
            fanout.send(PAYLOAD + bytes([n]), pts=960 * n)
    compiled_bytes, python_bytes = (sorted(datagram for datagram, _ in receive(ear, 12)) for ear in ears)
    assert compiled_bytes == python_bytes


FULL_BUFFER_CHILD = """
import json, socket, sys, time
sys.path.insert(0, sys.argv[1])
import pylibsrtp
from media_worker.batch import new_fanout
policy = pylibsrtp.Policy(key=bytes(range(1, 31)), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                          srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
ear = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ear.bind(("127.0.0.1", 0))
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # blocking: only MSG_DONTWAIT keeps the batch from waiting
out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
fanout = new_fanout(sys.argv[2])
slots = [fanout.add(pylibsrtp.Session(policy), out.fileno(), ear.getsockname(), n, 111, 0, 0) for n in range(2000)]
started = time.monotonic()
accepted = [fanout.send(bytes(1000), 960 * n) for n in range(3)]
took = time.monotonic() - started
stats = [fanout.stats(slot) for slot in slots]
print(json.dumps({"accepted": accepted, "took": took, "sent": sum(s.sent for s in stats),
                  "errors": sum(s.errors for s in stats), "codes": sorted({s.last_error for s in stats if s.errors}),
                  "seqs": sorted({s.seq for s in stats})}))
"""


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_a_full_socket_buffer_drops_and_counts_and_never_waits(impl):
    """Loopback hands a datagram on at once, so its buffer never fills: the child runs in a
    network namespace of its own whose loopback sends 8 kbit/s (tc's token bucket)."""
    if not (shutil.which("unshare") and shutil.which("tc") and shutil.which("ip")):
        pytest.skip("needs unshare, ip and tc (util-linux, iproute2) for a slow loopback")
    setup = "ip link set lo up && tc qdisc add dev lo root tbf rate 8kbit burst 1600 limit 1000000 && exec \"$@\""
    child = subprocess.run(["unshare", "-rn", "sh", "-c", setup, "sh", sys.executable, "-c", FULL_BUFFER_CHILD, str(ROOT), impl],
                           capture_output=True, text=True, timeout=20)
    if child.returncode and "unshare" in child.stderr:
        pytest.skip(f"no network namespace here: {child.stderr.strip()}")
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert 0 < result["sent"] == sum(result["accepted"]) < 6000  # some went, the rest were dropped...
    assert result["errors"] == 6000 - result["sent"]  # ...each counted on its listener
    assert result["codes"] == [errno.EAGAIN]
    assert result["seqs"] == [3]  # every packet took its number, dropped or not
    assert result["took"] < 2  # never waited for the socket (8 kbit/s: sending it all would take minutes)


@pytest.fixture
def announcements(caplog) -> Iterator:
    batch._announce.cache_clear()
    caplog.set_level(logging.INFO, logger="media_worker.batch")
    yield lambda: [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "media_worker.batch"]
    batch._announce.cache_clear()


def test_python_is_used_when_asked(announcements):
    assert new_fanout("python").implementation == "python"
    assert announcements() == [(logging.INFO, "batch fan-out: python (batch_impl=python)")]


def test_auto_uses_the_compiled_fanout_when_built_and_says_so_once(announcements):
    assert new_fanout("auto").implementation == "compiled"
    assert new_fanout("auto").implementation == "compiled"
    assert new_fanout("compiled").implementation == "compiled"
    logged = announcements()
    assert logged[0] == (logging.INFO, "batch fan-out: compiled (batch_impl=auto, media_worker._batch loaded)")
    assert len(logged) == 2  # auto once, compiled once


def test_without_the_compiled_module_auto_falls_back_and_warns_and_compiled_refuses(announcements, monkeypatch):
    monkeypatch.setitem(sys.modules, "media_worker._batch", None)  # as if never built
    assert batch.compiled_unavailable() is not None
    with pytest.raises(CompiledFanoutUnavailable, match="make native"):
        new_fanout("compiled")
    assert new_fanout("auto").implementation == "python"
    new_fanout("auto")
    [(level, message)] = announcements()
    assert level == logging.WARNING and message.startswith("batch fan-out: python (media_worker._batch does not load")
    assert "make native" in message
