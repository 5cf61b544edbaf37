"""``python -m bench.media``: what a core of the media worker carries, side by side.

Servers, all in the same run (``--servers``):

- ``batch`` — the worker as shipped (``PARLOR_MEDIA_SEND_PATH=batch``, one process:
  ``PARLOR_MEDIA_PROCESSES=1``): each tick's packet protected and sent to every listener
  in one compiled call;
- ``fast`` — the baseline: RTP header + SRTP + ``sendto`` per listener from Python
  (``PARLOR_MEDIA_SEND_PATH=fast``, one process);
- ``naive`` — each listener's aiortc ``RTCRtpSender`` (``PARLOR_MEDIA_SEND_PATH=naive``);
- ``batch×2`` (``batchx2`` on the command line) — batch with ``PARLOR_MEDIA_PROCESSES=2``
  (a mixing process and sender processes);
- ``relay`` — aiortc's stock ``MediaRelay``, one Opus encode per listener (only when named).

Placement on this 2-core machine: a one-process worker is pinned to core 0 and the load
side (this process: the speakers and the wire tap; the generator processes) to core 1.
``batch×2``'s processes may run on both cores, and so does the load side: the kernel
shares them (the affinities are printed). Every CPU figure is CPU time, not wall time, so
µs per packet means the same in both placements.

Speakers are aiortc peers in this process sending a 440 Hz tone in 150 ms bursts once a
second; with three, speaker k bursts at k/3 s past each second, so each burst a listener
hears can be traced to the speaker who caused it. Listeners (``generator.py``) are real
aiortc peers spread over generator processes (``--per-generator`` each, their own asyncio
loop each) that complete ICE + DTLS-SRTP with the worker and then only count datagrams.

For each server, N rises through ``--sizes`` (default 200, 400, 800, 1600, 2400) until the
listeners lose more than 0.5% or the load side saturates; then three speakers at
``--three-at``. Each row: joins ramped (``--join-concurrency`` offers in flight per generator
process), 2 s of warm-up, then a measurement window (6 s; 3 s with ``--quick``). Columns:

- **joins/s** — listeners connected ÷ the wall time from the first offer to the last
  listener's DTLS being up (each join timed from creating its peer connection to
  ``connectionState == "connected"``; **join95** is their p95, in seconds);
- **µs/pkt** — the worker's CPU time (utime + stime from ``/proc``, summed over its process
  tree: the main process and every descendant) in the window ÷ the audio packets the
  listeners counted in the window;
- **user** — the part of µs/pkt spent in user space (utime): the worker's own code. The rest
  (stime) is the kernel's: system calls, and on loopback also delivering each datagram into
  the listener's socket and waking its reader, which a real network card does not charge
  to the sender;
- **lst/core** — listeners per core = 1e6 ÷ (µs/pkt × 50 packets per second);
- **cores** — the worker's CPU time ÷ the window (how much of the machine it used);
- **sent** — the worker's own ``packets_out`` (``GET /metrics``) over what its participants
  were due in the counter's window (one packet per participant per 20 ms);
- **loss** — 1 − packets the listeners counted ÷ packets due to them (listeners connected
  × 50 × each generator process's own window);
- **RSS MB** — resident memory summed over the worker's process tree at the window's end;
- **p50/p95 ms** — the delay the worker adds, timed by the kernel on ``lo`` (``wiretap.py``:
  ``SO_TIMESTAMPNS`` on a packet socket): from each speaker's burst onset going into the
  worker to each sampled listener's next onset coming out (≤ 128 listeners sampled by SSRC
  bits in the kernel filter); an onset is a packet with ≥ 58 bytes of payload after 60 ms
  with none above 45 (Opus's tail after a burst is 45–57 bytes, tone 60–95); with three
  speakers each onset is matched to the latest speaker onset before it; onsets more than
  300 ms after any speaker onset count as unmatched (``unm``);
- **gen** — the load side's CPU (generator processes + this process) ÷ the window, in
  cores; ``!`` marks a saturated load side (a generator process ≥ 90% of a core, or the
  cores it runs on ≥ 90% busy counting the worker when they share them): that row
  measures the generator, not the worker, and the sweep stops there.

Mute → silence (batch and batch×2, every N, under the same load): after the window the
speaker talks without pause; five times the bench unmutes them, waits 0.6 s, calls
``POST /control {"action": "mute"}`` and notes the wall-clock time; the tap gives the last
packet with ≥ 58 bytes of payload each sampled listener was sent after the call (p50/p95/max; target < 100 ms).

Then: ratios of µs/pkt to ``fast`` at each N (the goal: batch ≤ 1/3), memory per listener
(RSS growth between the smallest and largest clean N), and a py-spy profile of batch at
``--profile-listeners``. ``--mix-on-arrival 0/1`` sets ``PARLOR_MEDIA_MIX_ON_ARRIVAL`` for
every worker (unset: the worker's default). Needs root for the wire tap (delays n/a
otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import numpy as np

from bench.media import generator as generators
from bench.media import proctree
from bench.media import profile as profiling
from bench.media.profile import Profile
from bench.media.wiretap import WireTap
from chalicelib.clock import SystemClock
from chalicelib.services.tokens import RoomTokens, generate_media_keypair
from local.stack import free_port
from media_worker import ice
from parlor_contract.media import CONTROL_PATH
from parlor_contract.signatures import HEADER as SIGNATURE_HEADER
from parlor_contract.signatures import sign_request, space_key
from parlor_contract.worker import WorkerEnv
from tests.media_worker.peers import Peer, ToneTrack, offer

TICKS_PER_SECOND = 50
SIZES = [200, 400, 800, 1600, 2400]
QUICK_SIZES = [5, 15]
DEFAULT_SERVERS = "batch,fast,naive,batch×2"
MAX_LOSS = 0.005  # the sweep stops once listeners lose more than this
SATURATED = 0.9
PULSE = 0.15  # seconds of tone per burst: three staggered bursts leave 180 ms quiet between
SAMPLED_LISTENERS = 128
# Opus payload bytes of a 20 ms frame, as the worker encodes them: tone 60–95, the decaying
# tail after a burst 45–57, near-silence between close bursts ~41, silence a handful.
LOUD_BYTES = 58
QUIET_BYTES = 45
MUTE_ROUNDS = 8
WARM_UP = 2.0
SERVICE_SECRET = secrets.token_urlsafe(32)  # workers refuse a short or published one
SPACE = generators.SPACE


@dataclass(frozen=True)
class Server:
    name: str
    send_path: str | None  # None: the MediaRelay baseline, not the worker
    processes: int = 1

    @property
    def worker_cores(self) -> set[int]:
        return {0, 1} if self.processes > 1 else {0}

    @property
    def load_cores(self) -> set[int]:
        return {0, 1} if self.processes > 1 else {1}


SERVERS = {s.name: s for s in (Server("batch", "batch"), Server("fast", "fast"), Server("naive", "naive"),
                               Server("batch×2", "batch", 2), Server("relay", None))}
ALIASES = {"batchx2": "batch×2", "batch*2": "batch×2"}


@dataclass
class Options:
    seconds: float
    per_generator: int
    join_concurrency: int
    mix_on_arrival: str | None
    batch_impl: str | None
    private_key: str
    public_key: str


@dataclass
class Result:
    server: str
    speakers: int
    listeners: int
    joined: int
    join_rate: float
    join_p95: float
    cpu_us_per_packet: float
    user_us_per_packet: float  # of which in user space (the rest is the kernel's: system calls, loopback delivery)
    worker_cores: float
    loss: float
    rss_mb: float
    delay_p50_ms: float
    delay_p95_ms: float
    unmatched: int
    load_cores: float
    saturated: bool
    sent: float | None = None
    mute: list[float] = field(default_factory=list)
    profile: Profile | None = None

    @property
    def per_core(self) -> float:
        return 1e6 / (self.cpu_us_per_packet * TICKS_PER_SECOND) if self.cpu_us_per_packet else 0.0

    @property
    def clean(self) -> bool:
        return self.loss <= MAX_LOSS and not self.saturated


class WorkerFailed(RuntimeError):
    pass


class BurstTrack(ToneTrack):
    """A tone in ``PULSE``-second bursts starting ``offset`` seconds past each second of a
    clock shared by every speaker (``epoch``), so bursts of different speakers never
    overlap; ``continuous`` makes it talk without pause (for the mute rounds)."""

    def __init__(self, frequency: float, epoch: float, offset: float) -> None:
        super().__init__(frequency)
        self.epoch, self.offset = epoch, offset
        self.continuous = False

    def silent(self, due: float) -> bool:
        return not self.continuous and (due - self.epoch - self.offset) % 1.0 >= PULSE


def percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def start_server(server: Server, port: int, options: Options, log: Path) -> subprocess.Popen[bytes]:
    if server.send_path is None:
        argv = [sys.executable, "-m", "bench.media.relay_server", "--port", str(port)]
    else:
        argv = [sys.executable, "-m", "media_worker"]
    env = {**os.environ, WorkerEnv.SPACE_ID: SPACE, WorkerEnv.PORT: str(port), WorkerEnv.TOKEN_PUBLIC_KEY: options.public_key,
           WorkerEnv.SERVICE_SECRET: SERVICE_SECRET, WorkerEnv.EMPTY_GRACE_SECONDS: "600", WorkerEnv.WORKERS_TABLE: "",
           WorkerEnv.SEND_PATH: server.send_path or "fast", WorkerEnv.PROCESSES: str(server.processes)}
    if options.mix_on_arrival is not None:
        env[WorkerEnv.MIX_ON_ARRIVAL] = options.mix_on_arrival
    if options.batch_impl is not None:
        env[WorkerEnv.BATCH_IMPL] = options.batch_impl
    cores = server.worker_cores
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.sched_setaffinity(0, cores))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise WorkerFailed(f"exited with {proc.returncode}: {' | '.join(tail)}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/offer", timeout=1)
        except Exception as exc:  # noqa: BLE001
            if "405" in str(exc) or "Method Not Allowed" in str(exc):
                return proc
        time.sleep(0.2)
    proc.kill()
    raise WorkerFailed("did not answer within 30 s")


def media_token(private_key: str, user: str, role: str) -> str:
    """A grant as the API mints one for each offer it relays (single use, seconds-long)."""
    return RoomTokens(private_key, SERVICE_SECRET, SystemClock()).media_grant(SPACE, user, role, False, datetime.now(UTC))


async def packets_sent(session: aiohttp.ClientSession, url: str) -> int | None:
    """The worker's packets_out counter (None for the MediaRelay server, which has none)."""
    try:
        async with session.get(f"{url}/metrics") as resp:
            return int((await resp.json())["packets_out"]) if resp.status == 200 else None
    except (aiohttp.ClientError, KeyError, ValueError):
        return None


async def control(session: aiohttp.ClientSession, url: str, command: dict[str, str]) -> None:
    """A control call as the API's gateway signs one (the space's key, a nonce)."""
    body = json.dumps({"space_id": SPACE, "decided_at": int(time.time() * 1000), **command}).encode()
    headers = {SIGNATURE_HEADER: sign_request(space_key(SERVICE_SECRET, SPACE), "POST", CONTROL_PATH, body)}
    async with session.post(f"{url}{CONTROL_PATH}", data=body, headers=headers) as resp:
        resp.raise_for_status()


def sample_mask(listeners: int) -> int:
    """Low SSRC bits that must be zero for a listener to be tapped: about SAMPLED_LISTENERS of them."""
    return (1 << max(0, math.ceil(math.log2(max(listeners, 1) / SAMPLED_LISTENERS)))) - 1


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


async def measure(server: Server, listeners: int, speakers: int, options: Options, mute_rounds: int = 0,
                  profile: bool = False) -> Result:
    os.sched_setaffinity(0, server.load_cores)
    loop = asyncio.get_running_loop()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix=f"parlor-bench-{server.name}-", suffix=".log")[1])
    proc = start_server(server, port, options, log)
    count = max(1, math.ceil(listeners / options.per_generator))
    gens: list[generators.GeneratorProcess] = []
    talkers: list[Peer] = []
    try:
        gens = [generators.start(i, server.load_cores, f"{url}/offer", options.private_key, SERVICE_SECRET)
                for i in range(count)]
        async with aiohttp.ClientSession() as session:
            epoch = time.monotonic()
            tracks = [BurstTrack(440 + 220 * k, epoch, k / 3) for k in range(speakers)]
            for k, track in enumerate(tracks):
                talkers.append((await offer(session, url, media_token(options.private_key, f"speaker{k}",
                                                                     "host" if k == 0 else "speaker"), track=track))[2])
            spoken = [t.pc.getSenders()[0]._ssrc for t in talkers]

            shares = [listeners // count + (1 if i < listeners % count else 0) for i in range(count)]
            ramp0 = time.monotonic()
            reports = await asyncio.gather(*(loop.run_in_executor(None, g.ask, "join", share, 0, options.join_concurrency)
                                             for g, share in zip(gens, shares, strict=True)))
            ramp = time.monotonic() - ramp0
            joined = sum(r.joined for r in reports)
            join_times = [s for r in reports for s in r.seconds]
            errors = [e for r in reports for e in r.errors]
            if errors:
                print(f"  ({sum(r.failed for r in reports)} joins failed, e.g. {errors[0]})", flush=True)
            await asyncio.sleep(WARM_UP)
            heard = {s for g in gens for s in g.ask("ssrcs")}
            mask = sample_mask(listeners)
            tapped = {s for s in heard if s & mask == 0}

            async def snapshot() -> tuple[float, float, float, float, float, int | None, list[tuple[float, int]]]:
                counts = await asyncio.gather(*(loop.run_in_executor(None, g.ask, "count") for g in gens))
                return (time.monotonic(), proctree.tree_cpu_seconds(proc.pid), proctree.tree_user_seconds(proc.pid),
                        sum(proctree.cpu_seconds(g.pid) for g in gens), self_cpu_seconds(),
                        await packets_sent(session, url), counts)

            with WireTap(speakers=spoken, sample_mask=mask) as tap:
                spy = profiling.start(proc.pid, options.seconds) if profile else None
                wall0 = time.time()
                t0, cpu0, user0, gen0, own0, sent0, counts0 = await snapshot()
                gen_each0 = [proctree.cpu_seconds(g.pid) for g in gens]
                await asyncio.sleep(options.seconds)
                t1, cpu1, user1, gen1, own1, sent1, counts1 = await snapshot()
                gen_each1 = [proctree.cpu_seconds(g.pid) for g in gens]
                wall1 = time.time()
                memory = proctree.tree_rss_mb(proc.pid)
                samples = profiling.finish(*spy) if spy else None
                mutes = await mute_rounds_under_load(session, url, tracks, mute_rounds) if mute_rounds else []
            delays, unmatched = tap.delays(spoken, tapped, LOUD_BYTES, QUIET_BYTES, window=(wall0, wall1))
            silencing = tap.silencing_delays(mutes, tapped, LOUD_BYTES) if mutes else []
            for talker in talkers:
                await talker.close()
    finally:
        for g in gens:
            g.stop()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.unlink(missing_ok=True)

    window = t1 - t0
    received = sum(c1 - c0 for (_, c0), (_, c1) in zip(counts0, counts1, strict=True))
    due = sum(r.joined * TICKS_PER_SECOND * (e1 - e0)
              for r, (e0, _), (e1, _) in zip(reports, counts0, counts1, strict=True))
    worker_cpu = cpu1 - cpu0
    load_cpu = (gen1 - gen0) + (own1 - own0)
    busiest_generator = max((b - a) / window for a, b in zip(gen_each0, gen_each1, strict=True))
    shared = server.load_cores & server.worker_cores
    busy = (load_cpu + (worker_cpu if shared else 0)) / (window * len(server.load_cores))
    should_send = (joined + speakers) * TICKS_PER_SECOND * window
    sent = (sent1 - sent0) / should_send if sent0 is not None and sent1 is not None else None
    return Result(server.name, speakers, listeners, joined, joined / ramp if ramp else 0.0,
                  percentiles(join_times)[1] if join_times else float("nan"),
                  worker_cpu * 1e6 / max(received, 1), (user1 - user0) * 1e6 / max(received, 1), worker_cpu / window,
                  max(0.0, 1 - received / max(due, 1)), memory,
                  *percentiles(delays), unmatched, load_cpu / window, busiest_generator >= SATURATED or busy >= SATURATED,
                  sent, silencing, samples)


async def mute_rounds_under_load(session: aiohttp.ClientSession, url: str, tracks: list[BurstTrack],
                                 rounds: int) -> list[float]:
    """Speaker 0 talks without pause; each round unmutes them, waits, mutes them and notes
    the call's wall-clock time (the clock the kernel stamps packets with)."""
    tracks[0].continuous = True
    # The window's end (reading the counters, the tap's backlog) keeps this process busy for
    # a moment; the speaker's packets, sent from here, bunch up meanwhile. Mutes are timed
    # once it has settled: what is measured is the worker's silencing, not this process's lag.
    await asyncio.sleep(1.0)
    calls: list[float] = []
    for _ in range(rounds):
        await control(session, url, {"action": "unmute", "user_id": "speaker0"})
        await asyncio.sleep(0.6)
        calls.append(time.time())
        await control(session, url, {"action": "mute", "user_id": "speaker0"})
        await asyncio.sleep(0.4)
    return calls


def header() -> str:
    return (f"{'server':<8} {'spk':>3} {'N':>5} {'joins/s':>7} {'join95':>6} {'µs/pkt':>7} {'user':>5} {'lst/core':>8} "
            f"{'cores':>5} {'sent':>7} {'loss':>7} {'RSS MB':>7} {'p50 ms':>6} {'p95 ms':>6} {'unm':>4} {'gen':>5}")


def row(r: Result) -> str:
    sent = f"{r.sent:.1%}" if r.sent is not None else "-"
    mark = "!" if r.saturated else " "
    joined = f"{r.listeners}" if r.joined == r.listeners else f"{r.joined}/{r.listeners}"
    return (f"{r.server:<8} {r.speakers:>3} {joined:>5} {r.join_rate:>7.0f} {r.join_p95:>6.2f} "
            f"{r.cpu_us_per_packet:>7.1f} {r.user_us_per_packet:>5.1f} {r.per_core:>8.0f} {r.worker_cores:>5.2f} {sent:>7} {r.loss:>7.2%} "
            f"{r.rss_mb:>7.1f} {r.delay_p50_ms:>6.1f} {r.delay_p95_ms:>6.1f} {r.unmatched:>4} {r.load_cores:>4.2f}{mark}")


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


def summarize(results: list[Result], servers: list[str]) -> None:
    one = {(r.server, r.listeners): r for r in results if r.speakers == 1}
    print("\nRatios of µs per packet to fast, same run (goal: batch ≤ 0.33):")
    for (name, n), r in sorted(one.items(), key=lambda item: (item[0][1], item[0][0])):
        base = one.get(("fast", n))
        if name != "fast" and base is not None:
            ratio = r.cpu_us_per_packet / max(base.cpu_us_per_packet, 1e-9)
            verdict = (" (goal met)" if ratio <= 1 / 3 else " (goal not met)") if name.startswith("batch") else ""
            user = r.user_us_per_packet / max(base.user_us_per_packet, 1e-9)
            print(f"  N={n}: {name} {ratio:.2f}× fast{verdict}, user space alone {user:.2f}×"
                  f"{'' if r.clean and base.clean else ' [a row is not clean]'}")
    three = {r.server: r for r in results if r.speakers == 3}
    for name, r in three.items():
        if name != "fast" and "fast" in three:
            print(f"  3 speakers, N={r.listeners}: {name} "
                  f"{r.cpu_us_per_packet / max(three['fast'].cpu_us_per_packet, 1e-9):.2f}× fast")
    print()
    for name in servers:
        clean = sorted((r for r in one.values() if r.server == name and r.clean), key=lambda r: r.listeners)
        if len(clean) >= 2:
            small, large = clean[0], clean[-1]
            per_listener = (large.rss_mb - small.rss_mb) / (large.listeners - small.listeners)
            print(f"{name}: memory per listener ≈ {per_listener:.3f} MB (RSS growth N={small.listeners} → {large.listeners})")
        if clean:
            top = clean[-1]
            print(f"{name}: most listeners clean (loss ≤ {MAX_LOSS:.1%}, load side not saturated): {top.listeners} at "
                  f"{top.cpu_us_per_packet:.1f} µs/packet ({top.per_core:.0f} per core), delay p95 {top.delay_p95_ms:.1f} ms")
    muted = [r for r in results if r.mute]
    if muted:
        print("\nMute → silence on the wire, under load (target < 100 ms):")
        for r in muted:
            print(f"  {r.server} N={r.listeners}: {len(r.mute)} listener-mutes, p50 {np.percentile(r.mute, 50):.1f} ms, "
                  f"p95 {np.percentile(r.mute, 95):.1f} ms, max {max(r.mute):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, short windows (make bench QUICK=1)")
    parser.add_argument("--sizes", help="listener counts, comma-separated (default 200,400,800,1600,2400)")
    parser.add_argument("--servers", default=DEFAULT_SERVERS, help=f"comma-separated, of {', '.join(SERVERS)} "
                        f"(batchx2 for batch×2; default {DEFAULT_SERVERS})")
    parser.add_argument("--three-at", type=int, help="N for the three-speaker rows (default 400; quick: the last size)")
    parser.add_argument("--mix-on-arrival", choices=["0", "1"], help="PARLOR_MEDIA_MIX_ON_ARRIVAL for every worker")
    parser.add_argument("--batch-impl", choices=["auto", "compiled", "python"], help="PARLOR_MEDIA_BATCH")
    parser.add_argument("--per-generator", type=int, default=600, help="listeners per generator process")
    parser.add_argument("--join-concurrency", type=int, default=8, help="offers in flight per generator process")
    parser.add_argument("--seconds", type=float, help="measurement window (default 6; quick 3)")
    parser.add_argument("--profile-listeners", type=int, help="py-spy the batch worker at this N (default 800; 0: none)")
    args = parser.parse_args()
    generators.raise_file_limit()
    ice.gather_only_on("127.0.0.1")
    private_key, public_key = generate_media_keypair()
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else QUICK_SIZES if args.quick else SIZES
    servers = [ALIASES.get(s, s) for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown servers: {', '.join(unknown)}")
    options = Options(args.seconds or (3.0 if args.quick else 6.0), args.per_generator, args.join_concurrency,
                      args.mix_on_arrival, args.batch_impl, private_key, public_key)
    three_at = args.three_at or (sizes[-1] if args.quick else 400)
    profile_at = args.profile_listeners if args.profile_listeners is not None else (0 if args.quick else 800)
    mute_rounds = 2 if args.quick else MUTE_ROUNDS

    print(f"machine: {os.cpu_count()} CPUs; window {options.seconds:.0f} s after {WARM_UP:.0f} s warm-up; "
          f"mix on arrival: {args.mix_on_arrival if args.mix_on_arrival is not None else 'worker default'}; "
          f"≤ {options.per_generator} listeners per generator process, {options.join_concurrency} joins in flight each")
    for name in servers:
        s = SERVERS[name]
        print(f"  {name}: worker on cores {sorted(s.worker_cores)}, load side (speakers, tap, generators) on cores "
              f"{sorted(s.load_cores)}")
    print(header(), flush=True)

    results: list[Result] = []

    def run(server: Server, n: int, speakers: int = 1, mute: int = 0, profile: bool = False) -> Result | None:
        try:
            result = asyncio.run(measure(server, n, speakers, options, mute, profile))
        except WorkerFailed as exc:
            print(f"{server.name:<8} {speakers:>3} {n:>5}  server failed: {exc}", flush=True)
            return None
        print(row(result), flush=True)
        results.append(result)
        return result

    for name in servers:
        server = SERVERS[name]
        for n in sizes:
            result = run(server, n, mute=mute_rounds if server.send_path == "batch" else 0)
            if result is None or not result.clean:
                break
    for name in servers:
        if SERVERS[name].send_path is not None:
            run(SERVERS[name], three_at, speakers=3)
    if profile_at and "batch" in servers:
        profiled = run(SERVERS["batch"], profile_at, profile=True)
        if profiled is not None and profiled.profile is not None:
            show_profile(profiled)
    summarize(results, servers)


if __name__ == "__main__":
    main()
