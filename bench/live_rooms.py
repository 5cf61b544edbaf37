"""``python -m bench.live_rooms``: many live rooms at once, for minutes, over the local stack.

The stack as real processes; N hosts each start a space through the API, whose launcher
starts one media worker process per space. In each room the host speaks (a real aiortc
peer sending a tone of its own frequency) and a few people listen: one decodes the audio
and measures how strong the room's tone is in it, the others (``bench/media/raw_listener``)
count RTP packets and their sizes without decoding, so this one process can carry them
all. Every sample window it prints the workers' CPU and memory (pids from the workers
table, CPU and RSS from the kernel through psutil) and whether every listener kept
hearing; at the end each worker's drift from the first window to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import psutil

from bench.local_stack import Api, report_the_run, running_stack, shared_urls, worker_records
from bench.media.raw_listener import LOUD_PAYLOAD_BYTES, RawListener, raw_listener
from media_worker import ice
from tests.media_worker.peers import Peer, offer_at, tone_strength, until

PACKETS_PER_SECOND = 50  # one 20 ms Opus frame per packet
HEARING_SHARE = 0.5  # a raw listener hears in a window if at least this share of the due packets came, loud
HEARING_STRENGTH = 0.1  # a decoding listener hears if this share of the energy is at the room's tone (peers.hears)
SETTINGS = {"PARLOR_HOST_MIN_FOLLOWERS": "0", "PARLOR_EMPTY_GRACE_SECONDS": "600"}


@dataclass(frozen=True)
class Load:
    rooms: int
    listeners: int  # per room, one of which decodes
    seconds: float
    window: float  # one sample every window; the first window is the baseline


FULL = Load(rooms=20, listeners=3, seconds=300, window=30)
QUICK = Load(rooms=3, listeners=3, seconds=20, window=5)


@dataclass
class Window:
    """One sample window of one room."""

    at: float  # seconds since the rooms were all connected
    cpu: float | None  # the worker's share of one core over the window (None: the worker is gone)
    rss_mb: float | None
    loss: list[float]  # each raw listener's share of due packets that did not come
    loud_share: list[float]  # each raw listener's share of due packets that carried tone
    longest_gap_ms: list[float]  # each raw listener's longest silence between two packets
    strength: float  # the decoding listener's tone strength over the last second it received in the window

    def state(self) -> str:
        """What the listeners got: the room's tone; packets without it (the speaker is gone
        from the mix); or nothing (the worker stopped sending)."""
        if self.loss and min(self.loss) >= 0.99:
            return "no packets"
        return "tone" if self.strength >= HEARING_STRENGTH else "no tone"

    def hearing(self) -> int:
        raw = sum(1 for share in self.loud_share if share >= HEARING_SHARE)
        return raw + (1 if self.strength >= HEARING_STRENGTH else 0)


@dataclass
class Room:
    space_id: str
    frequency: float
    # Not in the repr: the peers hold seconds of audio, which asyncio would format on the way out.
    speaker: Peer = field(repr=False)
    decoder: Peer = field(repr=False)
    raws: list[RawListener] = field(repr=False)
    pid: int | None = None
    process: psutil.Process | None = None
    windows: list[Window] = field(default_factory=list)
    _cpu: float = 0.0
    _last_packet: list[float] = field(default_factory=list)

    def sample(self, at: float, seconds: float) -> Window:
        cpu = rss = None
        if self.process is not None:
            try:
                times = self.process.cpu_times()
                used = times.user + times.system
                cpu, self._cpu = (used - self._cpu) / seconds, used
                rss = self.process.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                self.process = None
        due = PACKETS_PER_SECOND * seconds
        losses, loud, gaps = [], [], []
        for i, raw in enumerate(self.raws):
            packets, raw.packets = raw.packets, []  # a window's packets, then forgotten (minutes of them add up)
            arrivals = [self._last_packet[i], *(t for t, _ in packets)]
            if packets:
                self._last_packet[i] = packets[-1][0]
            losses.append(max(0.0, 1 - len(packets) / due))
            loud.append(min(1.0, sum(1 for _, size in packets if size > LOUD_PAYLOAD_BYTES) / due))
            gaps.append(max((b - a for a, b in zip(arrivals, arrivals[1:], strict=False)), default=seconds) * 1000)
        # Only audio that arrived in this window counts (none: silence); older audio is dropped,
        # the speaker's too (it receives the room's mix without itself), or minutes of it add up.
        fresh, self.decoder.frames = self.decoder.frames, []
        self.speaker.frames.clear()
        self.speaker.arrivals.clear()
        self.decoder.arrivals.clear()
        strength = tone_strength(np.concatenate(fresh[-50:]) if fresh else np.zeros(0), self.frequency)
        window = Window(at, cpu, rss, losses, loud, gaps, strength)
        self.windows.append(window)
        return window


async def open_room(session: aiohttp.ClientSession, joined: Joined, frequency: float) -> Room:
    """Everyone offers through the API (join's offer URL, their session token), as apps do."""
    url = joined.host_join["media"]["offer_url"]
    status, body, speaker = await offer_at(session, url, joined.host["token"], tone=frequency)
    assert status == 200, body
    (first, _), *others = joined.listeners
    status, body, decoder = await offer_at(session, url, first["token"])
    assert status == 200, body
    raws = [await raw_listener(session, url, person["token"]) for person, _ in others]
    return Room(joined.space_id, frequency, speaker, decoder, raws)


@dataclass(frozen=True)
class Joined:
    space_id: str
    host: dict  # the host's account (session token)
    host_join: dict  # the host's join answer (the offer URL)
    listeners: list[tuple[dict, dict]]  # each listener's account and join answer


def set_up(api: Api, load: Load) -> list[Joined]:
    """Hosts, their live spaces (the API launches the workers), and each room's listeners joined."""
    with ThreadPoolExecutor(4) as pool:
        hosts = list(pool.map(api.sign_up, [f"host{i}" for i in range(load.rooms)]))
        people = list(pool.map(api.sign_up, [f"ear{i}" for i in range(load.rooms * load.listeners)]))
    # One after another, each worker up before the next space goes live: spaces going live
    # at once can get one port for two workers (issue 14).
    spaces, host_joins = [], []
    for host in hosts:
        spaces.append(str(api.call("POST", "/v1/spaces", {"title": f"Room {host['handle']}"}, token=host["token"])["id"]))
        host_joins.append(api.join(spaces[-1], host["token"]))

    def join_room(i: int) -> Joined:
        ears = people[i * load.listeners:(i + 1) * load.listeners]
        return Joined(spaces[i], hosts[i], host_joins[i], [(e, api.join(spaces[i], e["token"])) for e in ears])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(join_room, range(load.rooms)))


async def run(stack, load: Load, joined: list[Joined]) -> tuple[list[Room], list[float]]:  # type: ignore[no-untyped-def]
    ice.gather_only_on("127.0.0.1")
    me = psutil.Process()
    async with aiohttp.ClientSession() as session:
        rooms = [await open_room(session, j, 300 + 40 * i)
                 for i, j in enumerate(joined)]
        try:
            await until(lambda: all(r.decoder.frames and all(raw.packets for raw in r.raws) for r in rooms), timeout=60,
                        message="not every listener received audio")
            records = await asyncio.to_thread(worker_records, stack)
            for url, spaces in shared_urls(records).items():
                print(f"reliability: spaces {', '.join(spaces)} were all given the worker at {url}", flush=True)
            for room in rooms:
                room.pid = records[room.space_id].pid if room.space_id in records else None
                room.process = psutil.Process(room.pid) if room.pid and psutil.pid_exists(room.pid) else None
                room._last_packet = [time.monotonic()] * len(room.raws)
                for raw in room.raws:
                    raw.packets.clear()
                room.decoder.frames.clear()
                if room.process is not None:
                    times = room.process.cpu_times()
                    room._cpu = times.user + times.system
            started, own = time.monotonic(), sum(me.cpu_times()[:2])
            bench_cpu: list[float] = []
            print(f"{len(rooms)} rooms live, each a speaker and {load.listeners} listeners; sampling every "
                  f"{load.window:.0f} s for {load.seconds:.0f} s", flush=True)
            print(f"{'at s':>5} {'workers CPU':>12} {'max':>5} {'RSS MB mean':>12} {'max':>6} {'hearing':>9} "
                  f"{'loss mean':>9} {'max':>8} {'gap ms max':>10} {'bench CPU':>9}")
            last = started
            while time.monotonic() - started < load.seconds - 0.5:
                await asyncio.sleep(started + load.window * (len(bench_cpu) + 1) - time.monotonic())
                now = time.monotonic()
                windows = [room.sample(now - started, now - last) for room in rooms]
                used = sum(me.cpu_times()[:2])
                bench_cpu.append((used - own) / (now - last))
                own, last = used, now
                show_window(windows, bench_cpu[-1], load)
            return rooms, bench_cpu
        finally:
            for room in rooms:
                for peer in (room.speaker.pc, room.decoder.pc, *(raw.pc for raw in room.raws)):
                    await peer.close()


def show_window(windows: list[Window], bench_cpu: float, load: Load) -> None:
    cpus = [w.cpu for w in windows if w.cpu is not None]
    rss = [w.rss_mb for w in windows if w.rss_mb is not None]
    hearing = sum(w.hearing() for w in windows)
    losses = [r for w in windows for r in w.loss]
    gaps = [g for w in windows for g in w.longest_gap_ms]
    gone = len(windows) - len(cpus)
    print(f"{windows[0].at:>5.0f} {sum(cpus):>11.0%} {max(cpus, default=0):>5.0%} "
          f"{statistics.mean(rss) if rss else 0:>12.1f} {max(rss, default=0):>6.1f} "
          f"{hearing:>4}/{len(windows) * load.listeners:<4} {statistics.mean(losses) if losses else 0:>9.2%} "
          f"{max(losses, default=0):>8.2%} {max(gaps, default=0):>10.0f} "
          f"{bench_cpu:>9.0%}" + (f"  ({gone} workers gone)" if gone else ""), flush=True)


def summarize(rooms: list[Room], bench_cpu: list[float], load: Load) -> None:
    print(f"\nPer worker, first window (baseline, to {load.window:.0f} s) → last (to {rooms[0].windows[-1].at:.0f} s):")
    print(f"{'room':>4} {'pid':>7} {'CPU first':>9} {'last':>6} {'RSS MB first':>12} {'last':>7} {'drift':>7} "
          f"{'loss first':>10} {'last':>6} {'tone first':>10} {'last':>5} {'hearing last':>12} {'last window':>11}")
    drifts, ratios = [], []
    for i, room in enumerate(rooms):
        first, final = room.windows[0], room.windows[-1]
        drift = (final.rss_mb - first.rss_mb) if final.rss_mb is not None and first.rss_mb is not None else None
        if drift is not None and first.rss_mb:
            drifts.append(drift)
            ratios.append(final.rss_mb / first.rss_mb)  # type: ignore[operator]
        print(f"{i:>4} {room.pid or '-':>7} {_pct(first.cpu):>9} {_pct(final.cpu):>6} {_mb(first.rss_mb):>12} "
              f"{_mb(final.rss_mb):>7} {_mb(drift, sign=True):>7} {_pct(statistics.mean(first.loss)):>10} "
              f"{_pct(statistics.mean(final.loss)):>6} {first.strength:>10.2f} {final.strength:>5.2f} "
              f"{final.hearing():>10}/{load.listeners} {final.state():>11}")
    cpu_first = [r.windows[0].cpu for r in rooms if r.windows[0].cpu is not None]
    cpu_last = [r.windows[-1].cpu for r in rooms if r.windows[-1].cpu is not None]
    lost = sum(1 for r in rooms for w in r.windows if w.hearing() < load.listeners)
    print(f"\nworkers: CPU {sum(cpu_first):.0%} → {sum(cpu_last):.0%} of one core in all "
          f"(each {statistics.mean(cpu_first) if cpu_first else 0:.1%} → {statistics.mean(cpu_last) if cpu_last else 0:.1%}); "
          f"RSS drift {statistics.mean(drifts) if drifts else 0:+.1f} MB mean, {max(drifts, default=0):+.1f} MB max; "
          f"RSS last ÷ first {statistics.mean(ratios) if ratios else 0:.3f} mean, {max(ratios, default=0):.3f} max")
    gone = [r.pid for r in rooms if r.process is None]
    states = Counter(r.windows[-1].state() for r in rooms)
    print(f"rooms in the last window: {', '.join(f'{n} {state}' for state, n in states.most_common())}")
    print(f"listeners: {lost} room-windows where someone stopped hearing, of {len(rooms) * len(rooms[0].windows)}; "
          f"workers gone during the run: {len(gone)}; the bench's own process: {statistics.mean(bench_cpu):.0%} of a core "
          f"(peers: {len(rooms)} Opus encoders, {len(rooms)} decoders); machine: {psutil.cpu_count()} cores", flush=True)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _mb(value: float | None, sign: bool = False) -> str:
    return "-" if value is None else (f"{value:+.1f}" if sign else f"{value:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.rooms} rooms for {QUICK.seconds:.0f} s")
    parser.add_argument("--rooms", type=int, help="how many rooms (default 20, quick 3)")
    parser.add_argument("--seconds", type=float, help="how long (default 300, quick 20)")
    args = parser.parse_args()
    load = QUICK if args.quick else FULL
    load = Load(args.rooms or load.rooms, load.listeners, args.seconds or load.seconds, load.window)
    with running_stack("bench-rooms", SETTINGS) as stack:
        api = Api(f"http://127.0.0.1:{stack.ports.api}")
        started = time.monotonic()
        joined = set_up(api, load)
        print(f"set up {load.rooms} live spaces (their workers up) and their listeners in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        rooms, bench_cpu = asyncio.run(run(stack, load, joined))
        summarize(rooms, bench_cpu, load)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda j: api.call("POST", f"/v1/spaces/{j.space_id}/end", token=j.host["token"]), joined))
        return report_the_run(stack, load.rooms)


if __name__ == "__main__":
    sys.exit(main())
