"""Kernel-timestamped capture of loud RTP packets on the loopback interface.

The delay a worker adds is from the moment a speaker's packet reaches it to the moment
the mixed packet leaves it for each listener. Timing that in the load generator's event
loop also counts the generator's own queueing, which grows with the number of listeners
it simulates on its one core. A packet socket on ``lo`` gets each datagram stamped by the
kernel as it crosses the interface (``SO_TIMESTAMPNS``), however late this thread reads
it, so the difference between the speaker's packet and each listener's is the worker's
time alone. A classic BPF filter passes only UDP datagrams big enough to carry tone, so
the kernel drops silence, DTLS and STUN before they reach Python.

Needs CAP_NET_RAW (root on the bench machine). SRTP leaves the RTP header in the clear,
so the SSRC tells whose packet it is and the header length gives the payload size.
"""

from __future__ import annotations

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

# ldb [23]; jeq #UDP; ldh [16]; jge #MIN_IP_LENGTH; ret all | ret 0
_FILTER = [
    (0x30, 0, 0, ETHERNET_HEADER + 9),
    (0x15, 0, 3, socket.IPPROTO_UDP),
    (0x28, 0, 0, ETHERNET_HEADER + 2),
    (0x35, 0, 1, MIN_IP_LENGTH),
    (0x06, 0, 0, 0xFFFF),
    (0x06, 0, 0, 0),
]


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

    packets: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> WireTap:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        except PermissionError:
            print("wiretap: no CAP_NET_RAW (run the bench as root for delays); delays are n/a", flush=True)
            return self  # no packets: no delays
        program = b"".join(struct.pack("HBBI", *op) for op in _FILTER)
        buffer = ctypes.create_string_buffer(program)
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(_FILTER), ctypes.addressof(buffer)))
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

    def delays(self, speaker_ssrc: int, listener_ssrcs: set[int], loud_bytes: int,
               quiet_gap: float = 0.3, window: float = 0.5) -> list[float]:
        """Milliseconds from the first loud packet of each of the speaker's bursts to the
        first loud packet each listener was sent after it."""
        loud = sorted(p for p in self.packets if p[2] >= loud_bytes)
        spoken = [t for t, ssrc, _ in loud if ssrc == speaker_ssrc]
        bursts = [t for previous, t in zip(spoken, spoken[1:], strict=False) if t - previous > quiet_gap]  # whole bursts only
        found: list[float] = []
        for start in bursts:
            first: dict[int, float] = {}
            for t, ssrc, _ in loud:
                if start <= t <= start + window and ssrc in listener_ssrcs and ssrc not in first:
                    first[ssrc] = t
            found.extend((t - start) * 1000 for t in first.values())
        return found

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
