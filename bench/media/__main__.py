"""``python -m bench.media``: what one core carries.

One server process pinned to core 0: Parlor's worker with its fast fan-out path (each mix
encoded once; per listener only an RTP header, SRTP and sendto), the same worker with the
fast path off (the naive encode-once path: the shared packets go through each listener's
RTCRtpSender), and aiortc's stock MediaRelay (one encode per listener) — all in one run. One speaker sending a tone and N
listeners, all real aiortc peers in this process (pinned to core 1). Per N it prints the
server's CPU µs per forwarded packet, the listeners per core that implies, loss, and
memory per listener, then the ratio of the two servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import aiohttp
import jwt
import numpy as np

from bench.media.raw_listener import raw_listener
from chalicelib.services.tokens import generate_media_keypair
from local.stack import free_port
from media_worker import ice
from tests.media_worker.peers import ToneTrack, offer

TICKS_PER_SECOND = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    server: str
    speakers: int
    listeners: int
    cpu_us_per_packet: float
    loss: float
    rss_mb: float
    latency_p50_ms: float
    latency_p95_ms: float

    @property
    def per_core(self) -> float:
        return 1e6 / (self.cpu_us_per_packet * TICKS_PER_SECOND) if self.cpu_us_per_packet else 0.0


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(kind: str, port: int, public_key: str) -> subprocess.Popen[bytes]:
    if kind in ("parlor", "naive"):
        argv = [sys.executable, "-m", "media_worker"]
    else:
        argv = [sys.executable, "-m", "bench.media.relay_server", "--port", str(port)]
    env = {**os.environ, "PARLOR_SPACE_ID": "BENCH", "PARLOR_MEDIA_PORT": str(port), "PARLOR_MEDIA_TOKEN_PUBLIC_KEY": public_key,
           "PARLOR_SERVICE_SECRET": "bench", "PARLOR_EMPTY_GRACE_SECONDS": "600", "PARLOR_WORKERS_TABLE": "",
           "PARLOR_MEDIA_FAST_PATH": "0" if kind == "naive" else "1"}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    deadline = time.monotonic() + 20
    import urllib.request

    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/offer", timeout=1)
        except Exception as exc:  # noqa: BLE001
            if "405" in str(exc) or "Method Not Allowed" in str(exc):
                return proc
        time.sleep(0.2)
    return proc


async def measure(kind: str, listeners: int, seconds: float, private_key: str, public_key: str, speakers: int = 1) -> Result:
    port = free_port()
    proc = start_server(kind, port, public_key)
    url = f"http://127.0.0.1:{port}"

    def token(user: str, role: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": user, "space_id": "BENCH", "role": role, "aud": "parlor-media", "iat": now,
                           "exp": now + 600}, private_key, algorithm="EdDSA")

    try:
        async with aiohttp.ClientSession() as session:
            pulse = ToneTrack(440, pulse=0.2)  # bursts, so arrival times show the delay
            talkers = [(await offer(session, url, token(f"speaker{s}", "host" if s == 0 else "speaker"),
                                    tone=440 + 220 * s, track=pulse if s == 0 else None))[2] for s in range(speakers)]
            peers = [await raw_listener(session, url, token(f"l{i}", "listener")) for i in range(listeners)]
            await asyncio.sleep(3.0)  # warm up: ICE, DTLS, first packets
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(seconds)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            received = sum(p.received_between(t0, t1) for p in peers)
            memory = rss_mb(proc.pid)
            # With other speakers talking all the time, payload size cannot mark the bursts' arrival.
            delays = [(arrival - burst) * 1000 for peer in peers[:5] for burst in pulse.burst_starts
                      if t0 <= burst <= t1 - 1 and (arrival := peer.loud_after(burst)) is not None
                      and arrival - burst < 1.0] if speakers == 1 else []
            expected = listeners * TICKS_PER_SECOND * (t1 - t0)
            for peer in [*talkers, *peers]:
                await peer.close()
        per_packet = (cpu1 - cpu0) * 1e6 / max(received, 1)
        p50, p95 = (float(np.percentile(delays, 50)), float(np.percentile(delays, 95))) if delays else (float("nan"),) * 2
        return Result(kind, speakers, listeners, per_packet, max(0.0, 1 - received / expected), memory, p50, p95)
    finally:
        proc.terminate()
        proc.wait(10)


async def direct_delays(seconds: float) -> tuple[float, float]:
    """The same burst delay with no server at all: one aiortc peer straight to another on
    loopback, recorded at RTP arrival like the raw listeners. What a server adds is the
    difference."""
    from aiortc import RTCPeerConnection

    from bench.media.raw_listener import RawListener

    speaker_pc, listener_pc = RTCPeerConnection(), RTCPeerConnection()
    pulse = ToneTrack(440, pulse=0.2)
    speaker_pc.addTrack(pulse)
    listener = RawListener(listener_pc)

    async def record(packet, arrival_time_ms: int) -> None:  # type: ignore[no-untyped-def]
        listener.packets.append((time.monotonic(), len(packet.payload)))

    await speaker_pc.setLocalDescription(await speaker_pc.createOffer())
    await listener_pc.setRemoteDescription(speaker_pc.localDescription)
    listener_pc.getTransceivers()[0].receiver._handle_rtp_packet = record  # type: ignore[method-assign]
    await listener_pc.setLocalDescription(await listener_pc.createAnswer())
    await speaker_pc.setRemoteDescription(listener_pc.localDescription)
    await asyncio.sleep(3.0)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    t1 = time.monotonic()
    delays = [(arrival - burst) * 1000 for burst in pulse.burst_starts
              if t0 <= burst <= t1 - 1 and (arrival := listener.loud_after(burst)) is not None]
    await speaker_pc.close()
    await listener_pc.close()
    return float(np.percentile(delays, 50)), float(np.percentile(delays, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    ice.gather_only_on("127.0.0.1")
    private_key, public_key = generate_media_keypair()
    sizes = [5, 15] if args.quick else [10, 50, 100, 200, 300]
    seconds = 3.0 if args.quick else 6.0
    servers = ("parlor", "naive", "relay")
    print(f"{'server':<8} {'spk':>3} {'N':>4} {'µs/packet':>10} {'listeners/core':>15} {'loss':>7} {'RSS MB':>7} "
          f"{'p50 ms':>7} {'p95 ms':>7}")
    results: dict[tuple[str, int], Result] = {}

    def show(r: Result) -> None:
        print(f"{r.server:<8} {r.speakers:>3} {r.listeners:>4} {r.cpu_us_per_packet:>10.0f} {r.per_core:>15.0f} "
              f"{r.loss:>7.1%} {r.rss_mb:>7.1f} {r.latency_p50_ms:>7.0f} {r.latency_p95_ms:>7.0f}", flush=True)

    for n in sizes:
        for kind in servers:
            if kind == "relay" and n > 50:
                continue  # MediaRelay is long saturated by then
            results[(kind, n)] = asyncio.run(measure(kind, n, seconds, private_key, public_key))
            show(results[(kind, n)])
    for kind in ("parlor", "naive"):  # three people talking at once
        show(asyncio.run(measure(kind, sizes[1], seconds, private_key, public_key, speakers=3)))
    p50, p95 = asyncio.run(direct_delays(seconds))
    print(f"{'direct':<8} {1:>3} {1:>4} {'-':>10} {'-':>15} {'-':>7} {'-':>7} {p50:>7.0f} {p95:>7.0f}"
          "   (no server: one peer straight to another)")
    for n in sizes:
        r = results[("parlor", n)]
        print(f"N={n}: the worker adds {r.latency_p50_ms - p50:.0f} ms at p50, {r.latency_p95_ms - p95:.0f} ms at p95")
    print()
    for kind in servers:
        measured = [n for n in sizes if (kind, n) in results]
        small, large = results[(kind, measured[0])], results[(kind, measured[-1])]
        per_listener = (large.rss_mb - small.rss_mb) / (measured[-1] - measured[0])
        print(f"{kind}: memory per listener ≈ {per_listener:.2f} MB (RSS growth from N={measured[0]} to N={measured[-1]})")
    for n in sizes:
        ours = results[("parlor", n)]
        for kind in ("naive", "relay"):
            if (kind, n) in results:
                base = results[(kind, n)]
                print(f"N={n}: {kind} spends {base.cpu_us_per_packet / max(ours.cpu_us_per_packet, 1e-9):.1f}x the CPU per "
                      f"packet of the fast path")


if __name__ == "__main__":
    main()
