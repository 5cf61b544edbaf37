"""``python -m bench.media``: what one core carries.

One server process pinned to core 0; one speaker sending 200 ms tone bursts each second
(three speakers in the last rows) and N listeners, all real aiortc peers in this process,
pinned to core 1. Servers, all in the same run: Parlor's worker with its fast fan-out path
(each mix encoded once; per listener only an RTP header, SRTP and sendto), the same worker
with the fast path off (the naive encode-once path: the shared packets go through each
listener's RTCRtpSender), and aiortc's stock MediaRelay (one encode per listener). For N
rising until the listeners lose more than 1%, it prints the server's CPU µs per
forwarded packet, the listeners per core that implies, the share of packets the worker
says it sent and the listeners' loss, memory, and the delay the worker adds (kernel
timestamps on loopback, ``wiretap.py``); then ratios, and a py-spy profile of the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import numpy as np

from bench.media import profile as profiling
from bench.media.profile import Profile
from bench.media.raw_listener import LOUD_PAYLOAD_BYTES, raw_listener
from bench.media.wiretap import WireTap
from chalicelib.clock import SystemClock
from chalicelib.services.tokens import RoomTokens, generate_media_keypair
from local.stack import free_port
from media_worker import ice
from parlor_contract.media import CONTROL_PATH
from parlor_contract.signatures import HEADER as SIGNATURE_HEADER
from parlor_contract.signatures import sign_request, space_key
from parlor_contract.worker import WorkerEnv
from tests.media_worker.peers import ToneTrack, offer

TICKS_PER_SECOND = 50
SERVERS = ("parlor", "naive", "relay")
SIZES = [10, 50, 100, 200, 300, 500, 800, 1000, 1200, 1500]
QUICK_SIZES = [5, 15]
MAX_LOSS = 0.01  # the sweep stops once listeners lose more than this
PROFILE_LISTENERS = 500
MUTE_LISTENERS = [50, 500]
MUTE_ROUNDS = 10
SERVICE_SECRET = secrets.token_urlsafe(32)  # workers refuse a short or published one
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    server: str
    speakers: int
    listeners: int
    cpu_us_per_packet: float
    loss: float
    rss_mb: float
    delay_p50_ms: float  # on the wire: the speaker's packet in, each listener's packet out
    delay_p95_ms: float
    sent: float | None = None  # the worker's own count of packets sent, over what its participants should get
    profile: Profile | None = None

    @property
    def per_core(self) -> float:
        return 1e6 / (self.cpu_us_per_packet * TICKS_PER_SECOND) if self.cpu_us_per_packet else 0.0


async def packets_sent(session: aiohttp.ClientSession, url: str) -> int | None:
    """The worker's packets_out counter (None for the MediaRelay server, which has none)."""
    async with session.get(f"{url}/metrics") as resp:
        return int((await resp.json())["packets_out"]) if resp.status == 200 else None


def percentiles(delays: list[float]) -> tuple[float, float]:
    if not delays:
        return float("nan"), float("nan")
    return float(np.percentile(delays, 50)), float(np.percentile(delays, 95))


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
    env = {**os.environ, WorkerEnv.SPACE_ID: "BENCH", WorkerEnv.PORT: str(port), WorkerEnv.TOKEN_PUBLIC_KEY: public_key,
           WorkerEnv.SERVICE_SECRET: SERVICE_SECRET, WorkerEnv.EMPTY_GRACE_SECONDS: "600", WorkerEnv.WORKERS_TABLE: "",
           WorkerEnv.SEND_PATH: "naive" if kind == "naive" else "fast"}
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


def media_token(private_key: str, user: str, role: str) -> str:
    """A grant as the API mints one for each offer it relays (single use, seconds-long)."""
    return RoomTokens(private_key, SERVICE_SECRET, SystemClock()).media_grant("BENCH", user, role, False, datetime.now(UTC))


async def control(session: aiohttp.ClientSession, url: str, command: dict[str, str]) -> None:
    """A control call as the API's gateway signs one (the space's key, a nonce)."""
    body = json.dumps({"space_id": "BENCH", "decided_at": int(time.time() * 1000), **command}).encode()
    key = space_key(SERVICE_SECRET, "BENCH")
    headers = {SIGNATURE_HEADER: sign_request(key, "POST", CONTROL_PATH, body)}
    async with session.post(f"{url}{CONTROL_PATH}", data=body, headers=headers) as resp:
        resp.raise_for_status()


async def measure(kind: str, listeners: int, seconds: float, private_key: str, public_key: str, speakers: int = 1,
                  profile: bool = False) -> Result:
    port = free_port()
    proc = start_server(kind, port, public_key)
    url = f"http://127.0.0.1:{port}"

    def token(user: str, role: str) -> str:
        return media_token(private_key, user, role)

    try:
        async with aiohttp.ClientSession() as session:
            pulse = ToneTrack(440, pulse=0.2)  # bursts: their onsets on the wire time the delay
            talkers = [(await offer(session, url, token(f"speaker{s}", "host" if s == 0 else "speaker"),
                                    tone=440 + 220 * s, track=pulse if s == 0 else None))[2] for s in range(speakers)]
            peers = [await raw_listener(session, f"{url}/offer", token(f"l{i}", "listener")) for i in range(listeners)]
            await asyncio.sleep(3.0)  # warm up: ICE, DTLS, first packets
            spy = profiling.start(proc.pid, seconds) if profile else None
            sent0, counted0 = await packets_sent(session, url), time.monotonic()
            with WireTap() as tap:
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                await asyncio.sleep(seconds)
                cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            sent1, counted1 = await packets_sent(session, url), time.monotonic()
            samples = profiling.finish(*spy) if spy else None
            received = sum(p.received_between(t0, t1) for p in peers)
            memory = rss_mb(proc.pid)
            # With other speakers talking all the time, payload size cannot mark the bursts.
            delays = tap.delays(talkers[0].pc.getSenders()[0]._ssrc, {p.ssrc for p in peers if p.ssrc is not None},
                              LOUD_PAYLOAD_BYTES) if speakers == 1 else []
            expected = listeners * TICKS_PER_SECOND * (t1 - t0)
            for talker in talkers:
                await talker.close()
            for peer in peers:
                await peer.close()
        per_packet = (cpu1 - cpu0) * 1e6 / max(received, 1)
        # Every participant gets a packet each tick (a speaker its mix-minus-self), counted in
        # the counter's own window.
        should_send = (listeners + speakers) * TICKS_PER_SECOND * (counted1 - counted0)
        sent = (sent1 - sent0) / should_send if sent0 is not None and sent1 is not None else None
        return Result(kind, speakers, listeners, per_packet, max(0.0, 1 - received / expected), memory,
                      *percentiles(delays), sent, samples)
    finally:
        proc.terminate()
        proc.wait(10)


async def measure_mute(listeners: int, rounds: int, private_key: str, public_key: str) -> list[float]:
    """The speaker talks without pause; each round unmutes, waits, then mutes them through
    ``POST /control`` and times, on the wire, how long listeners are still sent their voice."""
    port = free_port()
    proc = start_server("parlor", port, public_key)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            talker = (await offer(session, url, media_token(private_key, "speaker0", "host"), tone=440))[2]
            peers = [await raw_listener(session, f"{url}/offer", media_token(private_key, f"l{i}", "listener"))
                     for i in range(listeners)]
            await asyncio.sleep(3.0)
            calls: list[float] = []
            with WireTap() as tap:
                for _ in range(rounds):
                    await control(session, url, {"action": "unmute", "user_id": "speaker0"})
                    await asyncio.sleep(0.6)
                    calls.append(time.time())  # CLOCK_REALTIME, the clock the kernel stamps packets with
                    await control(session, url, {"action": "mute", "user_id": "speaker0"})
                    await asyncio.sleep(0.4)
            delays = tap.silencing_delays(calls, {p.ssrc for p in peers if p.ssrc is not None}, LOUD_PAYLOAD_BYTES)
            await talker.close()
            for peer in peers:
                await peer.close()
        return delays
    finally:
        proc.terminate()
        proc.wait(10)


def show_header() -> None:
    print(f"{'server':<8} {'spk':>3} {'N':>5} {'µs/packet':>10} {'listeners/core':>15} {'sent':>7} {'loss':>7} "
          f"{'RSS MB':>7} {'p50 ms':>7} {'p95 ms':>7}")


def show(r: Result) -> None:
    sent = f"{r.sent:.1%}" if r.sent is not None else "-"
    print(f"{r.server:<8} {r.speakers:>3} {r.listeners:>5} {r.cpu_us_per_packet:>10.1f} {r.per_core:>15.0f} {sent:>7} "
          f"{r.loss:>7.2%} {r.rss_mb:>7.1f} {r.delay_p50_ms:>7.1f} {r.delay_p95_ms:>7.1f}", flush=True)


def show_profile(r: Result) -> None:
    assert r.profile is not None
    print(f"\nWhere the time goes: {r.server}, 1 speaker, {r.listeners} listeners "
          f"({r.profile.samples} samples of the worker's busy time by py-spy)")
    print("  innermost Python line (C calls count against the line that made them):")
    for name, share in r.profile.top(r.profile.by_line, 15):
        print(f"  {share:6.1%}  {name}")
    print("  functions on the stack (inclusive):")
    for name, share in r.profile.top(r.profile.by_function, 15):
        print(f"  {share:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two small sizes, short windows")
    parser.add_argument("--sizes", help="listener counts, comma-separated (default: rising until loss > 1%%)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="which servers, comma-separated")
    parser.add_argument("--profile-listeners", type=int, help="profile the worker at this many listeners")
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    ice.gather_only_on("127.0.0.1")
    private_key, public_key = generate_media_keypair()
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else QUICK_SIZES if args.quick else SIZES
    seconds = 3.0 if args.quick else 6.0
    servers = [s for s in args.servers.split(",") if s]
    profile_at = args.profile_listeners or (sizes[-1] if args.quick else PROFILE_LISTENERS)

    def run(kind: str, n: int, speakers: int = 1, profile: bool = False) -> Result:
        return asyncio.run(measure(kind, n, seconds, private_key, public_key, speakers, profile))

    show_header()
    results: dict[tuple[str, int], Result] = {}
    for kind in servers:
        for n in sizes:  # rising until the listeners lose more than 1%
            results[(kind, n)] = result = run(kind, n)
            show(result)
            if result.loss > MAX_LOSS:
                break
    for kind in [k for k in servers if k != "relay"]:  # three people talking at once
        show(run(kind, sizes[1] if len(sizes) > 1 else sizes[0], speakers=3))
    if "parlor" in servers:
        show_profile(run("parlor", profile_at, profile=True))
        print("\nMute → silence on the wire (parlor, 1 speaker talking; target < 100 ms):")
        for n in QUICK_SIZES[:1] if args.quick else MUTE_LISTENERS:
            rounds = 3 if args.quick else MUTE_ROUNDS
            delays = asyncio.run(measure_mute(n, rounds, private_key, public_key))
            if delays:
                print(f"  N={n}: {rounds} mutes, p50 {np.percentile(delays, 50):.1f} ms, "
                      f"p95 {np.percentile(delays, 95):.1f} ms, max {max(delays):.1f} ms", flush=True)
            else:
                print(f"  N={n}: n/a (no wire tap)", flush=True)
    summarize(results, servers, sizes)


def summarize(results: dict[tuple[str, int], Result], servers: list[str], sizes: list[int]) -> None:
    print()
    for kind in servers:
        clean = [n for n in sizes if (kind, n) in results and results[(kind, n)].loss <= MAX_LOSS]
        if len(clean) >= 2:
            small, large = results[(kind, clean[0])], results[(kind, clean[-1])]
            per_listener = (large.rss_mb - small.rss_mb) / (clean[-1] - clean[0])
            print(f"{kind}: memory per listener ≈ {per_listener:.2f} MB (RSS growth from N={clean[0]} to N={clean[-1]})")
        if clean:
            top = results[(kind, clean[-1])]
            print(f"{kind}: most listeners at loss ≤ 1%: {top.listeners} ({top.cpu_us_per_packet:.1f} µs/packet, "
                  f"delay p95 {top.delay_p95_ms:.1f} ms)")
    for n in sizes:
        ours = results.get(("parlor", n))
        for kind in ("naive", "relay"):
            if ours is not None and (kind, n) in results:
                base = results[(kind, n)]
                print(f"N={n}: {kind} spends {base.cpu_us_per_packet / max(ours.cpu_us_per_packet, 1e-9):.1f}x the CPU "
                      f"per packet of the fast path")


if __name__ == "__main__":
    main()
