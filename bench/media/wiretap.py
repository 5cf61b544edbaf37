"""Kernel-timestamped capture of loud RTP packets on the loopback interface.

The delay a worker adds is from the moment a speaker's packet reaches it to the moment
the mixed packet leaves it for each listener. Timing that in the load generator's event
loop also counts the generator's own queueing, which grows with the number of listeners
it simulates on its one core. A packet socket on ``lo`` gets each datagram stamped by the
kernel as it crosses the interface (``SO_TIMESTAMPNS``), however late this thread reads
it, so the difference between the speaker's packet and each listener's is the worker's
time alone. A classic BPF filter passes only UDP datagrams big enough to carry tone, so
the kernel drops silence, DTLS and STUN before they reach Python.

Thousands of listeners' loud packets would cost the bench's own core more than the
measurement is worth, so the filter also samples: it passes a packet only when its SSRC
(RTP's bytes 8–11, at a fixed offset on loopback's 20-byte IP headers) is a speaker's or
has its low bits zero (``sample_mask``: 1 listener in mask + 1, chosen at random by the
worker's random SSRCs).

Needs CAP_NET_RAW (root on the bench machine). SRTP leaves the RTP header in the clear,
so the SSRC tells whose packet it is and the header length gives the payload size.
"""

from __future__ import annotations

import bisect
import ctypes
import socket
import struct
import threading
from dataclasses import dataclass, field

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
ETHERNET_HEADER = 14
SRTP_AUTH_TAG = 10  # AES_CM_128_HMAC_SHA1_80, aiortc's profile
MIN_IP_LENGTH = 90  # IP + UDP + RTP headers + SRTP tag + a 40-byte payload (silence is a few bytes)

SSRC_OFFSET = ETHERNET_HEADER + 20 + 8 + 8  # Ethernet, IP (no options on lo), UDP, RTP's first 8 bytes
LD_B, LD_H, LD_W, JEQ, JGE, AND, RET = 0x30, 0x28, 0x20, 0x15, 0x35, 0x54, 0x06


def loud_filter(speakers: list[int], sample_mask: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF: UDP, IP length ≥ MIN_IP_LENGTH, and the SSRC a speaker's or sampled."""
    program: list[tuple[int, int, int, int]] = []
    # (code, jump-if-true label, jump-if-false label, k); labels resolved below
    steps: list[tuple[int, str | None, str | None, int]] = [
        (LD_B, None, None, ETHERNET_HEADER + 9),
        (JEQ, None, "drop", socket.IPPROTO_UDP),
        (LD_H, None, None, ETHERNET_HEADER + 2),
        (JGE, None, "drop", MIN_IP_LENGTH),
        (LD_W, None, None, SSRC_OFFSET),
        *[(JEQ, "pass", None, ssrc) for ssrc in speakers],
        (AND, None, None, sample_mask),
        (JEQ, "pass", "drop", 0),
    ]
    at = {"pass": len(steps), "drop": len(steps) + 1}
    for i, (code, yes, no, k) in enumerate(steps):
        program.append((code, at[yes] - i - 1 if yes else 0, at[no] - i - 1 if no else 0, k))
    return [*program, (RET, 0, 0, 0xFFFF), (RET, 0, 0, 0)]


def rtp_payload(rtp: bytes) -> tuple[int, int] | None:
    """(ssrc, payload bytes) of an SRTP packet; None for anything else (STUN, DTLS, RTCP)."""
    if len(rtp) < 12 or rtp[0] >> 6 != 2 or 72 <= rtp[1] & 0x7F <= 79:  # not RTP, or RTCP
        return None
    header = 12 + 4 * (rtp[0] & 0x0F)
    if rtp[0] & 0x10:  # header extension: 4 bytes + its declared length in words
        header += 4 + 4 * struct.unpack_from("!H", rtp, header + 2)[0]
    ssrc = struct.unpack_from("!I", rtp, 8)[0]
    return ssrc, len(rtp) - header - SRTP_AUTH_TAG


@dataclass
class WireTap:
    """Records (kernel time, ssrc, payload bytes) of every loud RTP packet on ``lo``."""

    speakers: list[int] = field(default_factory=list)  # their packets always pass the filter
    sample_mask: int = 0  # listeners whose SSRC & mask == 0 pass (0: all)
    packets: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> WireTap:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        except PermissionError:
            print("wiretap: no CAP_NET_RAW (run the bench as root for delays); delays are n/a", flush=True)
            return self  # no packets: no delays
        ops = loud_filter(self.speakers, self.sample_mask)
        program = b"".join(struct.pack("HBBI", *op) for op in ops)
        buffer = ctypes.create_string_buffer(program)
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(ops), ctypes.addressof(buffer)))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        sock.bind(("lo", ETH_P_IP))
        sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._read, args=(sock,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _read(self, sock: socket.socket) -> None:
        with sock:
            while not self._stop.is_set():
                try:
                    frame, ancillary, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(16))
                except TimeoutError:
                    continue
                stamp = next((struct.unpack("qq", data[:16]) for level, kind, data in ancillary
                              if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
                ip = frame[ETHERNET_HEADER:]
                parsed = rtp_payload(ip[(ip[0] & 0x0F) * 4 + 8:])  # past the IP and UDP headers
                if stamp is not None and parsed is not None:
                    self.packets.append((stamp[0] + stamp[1] / 1e9, *parsed))

    def streams(self) -> dict[int, list[tuple[float, int]]]:
        by_ssrc: dict[int, list[tuple[float, int]]] = {}
        for t, ssrc, size in sorted(self.packets):
            by_ssrc.setdefault(ssrc, []).append((t, size))
        return by_ssrc

    def delays(self, speakers: list[int], listener_ssrcs: set[int], loud_bytes: int, quiet_bytes: int,
               longest: float = 0.3, window: tuple[float, float] | None = None) -> tuple[list[float], int]:
        """Milliseconds from a speaker's burst onset to each listener's next onset, and how
        many listener onsets matched no burst.

        An onset is a packet of at least ``loud_bytes`` after ``QUIET_BEFORE_ONSET`` seconds
        in which the stream carried nothing above ``quiet_bytes`` (Opus's decaying tail after
        a burst and a mix's near-silence stay under it; tone is well over ``loud_bytes``).
        Speakers burst at staggered offsets, so each listener onset is matched to the latest
        speaker onset before it — the burst that caused it — if that is at most ``longest``
        seconds earlier. ``window``: only listener onsets stamped within it (wall clock)."""
        streams = self.streams()
        begun = min((t for t, _, _ in self.packets), default=0.0)
        start, end = window or (float("-inf"), float("inf"))
        spoken = sorted(t for s in speakers for t in onsets(streams.get(s, []), loud_bytes, quiet_bytes, begun))
        found: list[float] = []
        unmatched = 0
        for ssrc in listener_ssrcs:
            for heard in onsets(streams.get(ssrc, []), loud_bytes, quiet_bytes, begun):
                if not start <= heard <= end:
                    continue
                cause = bisect.bisect_right(spoken, heard) - 1
                if cause >= 0 and heard - spoken[cause] <= longest:
                    found.append((heard - spoken[cause]) * 1000)
                else:
                    unmatched += 1
        return found, unmatched

    def silencing_delays(self, calls: list[float], listener_ssrcs: set[int], loud_bytes: int,
                         window: float = 0.4) -> list[float]:
        """Milliseconds from each mute call (wall-clock time, as the kernel stamps) to the
        last loud packet each listener was sent after it; 0 when nothing loud followed."""
        found: list[float] = []
        for called in calls:
            last = dict.fromkeys(listener_ssrcs, called)
            for t, ssrc, size in self.packets:
                if ssrc in last and size >= loud_bytes and called <= t <= called + window:
                    last[ssrc] = max(last[ssrc], t)
            found.extend((t - called) * 1000 for t in last.values())
        return found


QUIET_BEFORE_ONSET = 0.06  # three ticks


def onsets(stream: list[tuple[float, int]], loud_bytes: int, quiet_bytes: int, begun: float) -> list[float]:
    """Times of the packets of ``stream`` (time-ordered (t, payload bytes)) that start a
    loud run; none in the capture's first moments (what came before is unknown)."""
    found: list[float] = []
    last_sound = begun  # the last packet above quiet_bytes
    for t, size in stream:
        if size >= loud_bytes and t - last_sound > QUIET_BEFORE_ONSET:
            found.append(t)
        if size > quiet_bytes:
            last_sound = t
    return found
