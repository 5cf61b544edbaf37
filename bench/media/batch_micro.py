"""``python -m bench.media.batch_micro``: what one listener-packet costs the sender, per way of
fanning out one encoded packet to N listeners sharing one UDP socket on loopback:

- ``compiled``: ``media_worker.batch`` in C (one call; sendmmsg per 1024 packets);
- ``python``: ``media_worker.batch``'s fallback (the same rules, a packet at a time);
- ``per-listener``: what the fast path does per listener (``media_worker/fastpath.py``): an
  RTP header, pylibsrtp's ``protect``, ``sendto``, on the raw socket (the fast path goes
  through asyncio's transport, which costs a little more).

Only the sending is timed, as this thread's CPU time (user and kernel: loopback delivers in
the sender's system call) and as wall time (which the machine's other load inflates); the
receivers are drained between batches. A micro-benchmark, not a test: a few seconds; figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import time
from collections.abc import Callable

import pylibsrtp

from media_worker.batch import new_fanout

KEY = bytes(range(1, 31))
HEADER = struct.Struct("!BBHII")


def _session() -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80))


def _drain(ears: list[socket.socket]) -> int:
    got = 0
    for ear in ears:
        while True:
            try:
                ear.recv(2048)
            except BlockingIOError:
                break
            got += 1
    return got


def _per_listener(out: socket.socket, addresses: list[tuple[str, int]]) -> Callable[[bytes, int], int]:
    sessions = [_session() for _ in addresses]
    seqs = [0] * len(addresses)

    def send(payload: bytes, pts: int) -> int:
        for n, address in enumerate(addresses):
            seqs[n] = seq = (seqs[n] + 1) & 0xFFFF
            out.sendto(sessions[n].protect(HEADER.pack(0x80, 111, seq, pts & 0xFFFFFFFF, n) + payload), address)
        return len(addresses)

    return send


def measure(way: str, listeners: int, batches: int, payload: bytes, receivers: int = 5) -> tuple[float, float, float, float]:
    """(median CPU, best CPU, median wall, best wall) µs per listener-packet; every packet must arrive."""
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.setblocking(False)
    ears = []
    for _ in range(receivers):
        ear = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ear.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        ear.bind(("127.0.0.1", 0))
        ear.setblocking(False)
        ears.append(ear)
    addresses = [ears[n % receivers].getsockname() for n in range(listeners)]
    if way == "per-listener":
        send = _per_listener(out, addresses)
    else:
        fanout = new_fanout(way)  # type: ignore[arg-type]
        for n, address in enumerate(addresses):
            fanout.add(_session(), out.fileno(), address, ssrc=n, payload_type=111, seq=0, ts_offset=0)
        send = fanout.send
    cpu, wall = [], []
    for batch in range(batches + 5):
        started, started_cpu = time.perf_counter(), time.thread_time()
        sent = send(payload, 960 * batch)
        took, took_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        arrived = _drain(ears)
        if sent != listeners or arrived != listeners:
            raise SystemExit(f"{way}: {sent} sent, {arrived} arrived of {listeners}")
        if batch >= 5:  # the first batches warm up (each SRTP stream's first packet sets it up)
            cpu.append(took_cpu / listeners * 1e6)
            wall.append(took / listeners * 1e6)
    for sock in [out, *ears]:
        sock.close()
    return statistics.median(cpu), min(cpu), statistics.median(wall), min(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--batches", type=int, default=100, help="sends timed per way (each to every listener)")
    parser.add_argument("--payload", type=int, default=80, help="payload bytes (an Opus 20 ms packet is ~40-160)")
    args = parser.parse_args()
    payload = bytes(args.payload)
    print(f"{args.listeners} listeners on one loopback UDP socket, {args.payload}-byte payload, {args.batches} batches")
    print(f"{'µs per listener-packet':<24}{'CPU median':>12}{'CPU best':>10}{'wall median':>13}{'wall best':>11}")
    results = {}
    for way in ("compiled", "python", "per-listener"):
        results[way] = measure(way, args.listeners, args.batches, payload)
        print(f"{way:<24}" + "".join(f"{value:>{width}.2f}" for value, width in zip(results[way], (12, 10, 13, 11), strict=True)))
    base = results["per-listener"][0]
    print(f"CPU medians: per-listener / compiled {base / results['compiled'][0]:.1f}x, "
          f"per-listener / python {base / results['python'][0]:.2f}x")


if __name__ == "__main__":
    main()
