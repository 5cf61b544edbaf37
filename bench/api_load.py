"""``python -m bench.api_load``: the REST API under a mixed load from Locust, headless.

The local stack as real processes (``chalice local``'s server, moto, the clock, the
WebSocket gateway, one media worker per live space), people and live spaces made first
through the API; then Locust (as a library, ``FastHttpUser``, ``constant_throughput``)
sends a mix of what clients do — the live feed, room chat (post, read), joins, follows
and unfollows, who is in a room, sign-ins — first at a low baseline rate, then at the
target rate, each phase after a warm-up. Prints p50/p95/p99 and errors per request kind
and overall, the rate reached, the CPU each process used, and p95 ratios to the baseline.

A join answers 503 ``media_starting`` (``Retry-After``) while a room's worker starts: the
user waits and retries, as a client does, and the 503 is counted on its own line, not
as an error.
"""

# Locust patches the standard library for gevent when imported: it must come first.
from locust import FastHttpUser, constant_throughput, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import itertools
import random
import sys
import time
from dataclasses import dataclass, field

import gevent
import psutil
from gevent.pool import Pool

from bench.local_stack import PASSWORD, Api, count_in_log, report_the_run, running_stack, shared_urls, worker_records
from bench.media import profile as profiling

CHAT_GAP_SECONDS = 2.0  # a person posts to a room at most this often (the API allows one message a second)
PROFILED = ("api", "moto")  # with --profile: where these spend their time during the last phase
STARTING = "join: 503 media_starting (retried)"
SETTINGS = {
    "PARLOR_HOST_MIN_FOLLOWERS": "0",
    # Joins without media leave a worker's room empty; keep the workers for the whole run.
    "PARLOR_EMPTY_GRACE_SECONDS": "3600",
}


@dataclass(frozen=True)
class Phase:
    name: str
    rps: float
    seconds: float
    warmup: float


@dataclass(frozen=True)
class Load:
    people: int  # signed up first; simulated users take their identities in turn
    spaces: int
    follows_each: int
    # Each simulated user's pace: users = rate ÷ pace. A slow answer delays one user's next
    # task only, so the offered rate holds while answers take less than 1 ÷ pace.
    per_user_rps: float
    phases: list[Phase]


FULL = Load(people=200, spaces=10, follows_each=3, per_user_rps=0.5,
            phases=[Phase("baseline", 20, 30, 10), Phase("target", 200, 60, 15)])
QUICK = Load(people=25, spaces=3, follows_each=2, per_user_rps=1.0,
             phases=[Phase("baseline", 10, 6, 4), Phase("target", 50, 10, 5)])


@dataclass
class Seeded:
    people: list[dict[str, str]] = field(default_factory=list)
    hosts: list[dict[str, str]] = field(default_factory=list)
    spaces: list[str] = field(default_factory=list)


seeded = Seeded()  # what the users below act on, made before any user starts
identities = itertools.count()
# When each person last posted to each room: two users may share a person, and the API
# takes one message a second from a person in a room (more is a 429, not a load figure).
last_post: dict[tuple[str, str], float] = {}


class ClientUser(FastHttpUser):
    """One app user: signed in already (a token from the seed), in one room, reading the
    feed and chatting, now and then joining another room, following someone, signing in."""

    wait_time = constant_throughput(1.0)  # set per load in run_phase

    def on_start(self) -> None:
        self.me = seeded.people[next(identities) % len(seeded.people)]
        self.auth = {"Authorization": f"Bearer {self.me['token']}"}
        self.followed: set[str] = set()
        self.rooms: list[str] = []
        self._join(random.choice(seeded.spaces))

    def _join(self, space_id: str) -> None:
        for _ in range(30):
            with self.client.post(f"/v1/spaces/{space_id}/join", headers=self.auth, name="join",
                                  catch_response=True) as resp:
                if resp.status_code == 503 and _error_code(resp) == "media_starting":
                    resp.request_meta["name"] = STARTING  # an expected wait, on its own line
                    resp.success()
                    gevent.sleep(float(resp.headers.get("Retry-After") or 1))
                    continue
                if resp.status_code == 200 and space_id not in self.rooms:
                    self.rooms.append(space_id)
                return

    @task(30)
    def feed(self) -> None:
        self.client.get("/v1/feed/live", headers=self.auth, name="feed")

    @task(20)
    def chat(self) -> None:
        now = time.monotonic()
        me = self.me["id"]
        rooms = [r for r in self.rooms if now - last_post.get((me, r), -CHAT_GAP_SECONDS) >= CHAT_GAP_SECONDS]
        if rooms:
            room = random.choice(rooms)
            last_post[(me, room)] = now
            self.client.post(f"/v1/spaces/{room}/messages", json={"text": "hello, room"}, headers=self.auth,
                             name="chat: post")
        else:
            self.read_chat()

    @task(10)
    def read_chat(self) -> None:
        if self.rooms:
            self.client.get(f"/v1/spaces/{random.choice(self.rooms)}/messages", headers=self.auth, name="chat: read")

    @task(15)
    def join(self) -> None:
        self._join(random.choice(seeded.spaces))

    @task(8)
    def follow(self) -> None:
        other = random.choice(seeded.people)
        if other["id"] != self.me["id"]:
            self.client.put(f"/v1/me/following/{other['id']}", headers=self.auth, name="follow")
            self.followed.add(other["id"])

    @task(8)
    def unfollow(self) -> None:
        if self.followed:  # only those this user followed here: the seeded follows keep the feed full
            self.client.delete(f"/v1/me/following/{self.followed.pop()}", headers=self.auth, name="unfollow")

    @task(8)
    def participants(self) -> None:
        self.client.get(f"/v1/spaces/{random.choice(seeded.spaces)}/participants", headers=self.auth,
                        name="participants")

    @task(1)
    def sign_in(self) -> None:
        self.client.post("/v1/sessions", json={"handle": self.me["handle"], "password": PASSWORD}, name="sign-in")


def _error_code(resp) -> str | None:  # type: ignore[no-untyped-def]
    try:
        return str(resp.json()["error"]["code"])
    except Exception:  # noqa: BLE001 - not the error envelope
        return None


def seed(api: Api, load: Load) -> None:
    """People, the hosts they follow, and one live space per host (its worker up)."""
    pool = Pool(8)
    seeded.people = pool.map(api.sign_up, [f"load{i}" for i in range(load.people)])
    seeded.hosts = seeded.people[: load.spaces]

    def follow_hosts(person: dict[str, str]) -> None:
        for host in random.sample(seeded.hosts, min(load.follows_each, len(seeded.hosts))):
            if host["id"] != person["id"]:
                api.call("PUT", f"/v1/me/following/{host['id']}", token=person["token"])

    pool.map(follow_hosts, seeded.people)

    def go_live(host: dict[str, str]) -> str:
        space_id = str(api.call("POST", "/v1/spaces", {"title": f"Load {host['handle']}"}, token=host["token"])["id"])
        api.join(space_id, host["token"])  # waits until the worker is up
        return space_id

    # One after another: spaces going live at once can get one port for two workers (issue 14).
    seeded.spaces = [go_live(host) for host in seeded.hosts]


@dataclass
class Row:
    kind: str
    requests: int
    errors: int
    p50: float
    p95: float
    p99: float
    max: float


@dataclass
class Result:
    phase: Phase
    seconds: float
    rows: list[Row]
    total: Row
    retries: int
    errors: list[tuple[int, str]]
    cpu: dict[str, float]  # process → share of one core over the measured window
    profiles: dict[str, profiling.Profile]
    moto_calls: int
    users: int

    @property
    def achieved_rps(self) -> float:
        return (self.total.requests + self.retries) / self.seconds


def _row(kind: str, entry) -> Row:  # type: ignore[no-untyped-def]
    pct = entry.get_response_time_percentile
    return Row(kind, entry.num_requests, entry.num_failures, pct(0.5), pct(0.95), pct(0.99), entry.max_response_time)


def _processes(stack) -> dict[str, list[psutil.Process]]:  # type: ignore[no-untyped-def]
    groups: dict[str, list[psutil.Process]] = {c.name: [psutil.Process(c.process.pid)] for c in stack.components
                                               if c.process is not None}
    groups["media workers"] = [psutil.Process(r.pid) for r in worker_records(stack).values()
                               if r.pid and psutil.pid_exists(r.pid)]
    groups["locust (this process)"] = [psutil.Process()]
    return groups


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_phase(host: str, phase: Phase, per_user_rps: float, stack, profile: bool = False) -> Result:  # type: ignore[no-untyped-def]
    global identities
    identities = itertools.count()
    env = Environment(user_classes=[ClientUser], host=host)
    runner = env.create_local_runner()
    ClientUser.wait_time = constant_throughput(per_user_rps)  # type: ignore[method-assign]
    users = max(1, round(phase.rps / per_user_rps))
    runner.start(users, spawn_rate=min(100.0, users / max(phase.warmup / 2, 1)))
    gevent.sleep(phase.warmup)  # spawned, joined, paced
    env.stats.reset_all()
    groups = _processes(stack)
    cpu0 = {name: _cpu_seconds(ps) for name, ps in groups.items()}
    calls0 = _moto_calls(stack)
    spies = {name: profiling.start(groups[name][0].pid, phase.seconds - 1) for name in PROFILED} if profile else {}
    started = time.monotonic()
    gevent.sleep(phase.seconds)
    seconds = time.monotonic() - started
    calls = _moto_calls(stack) - calls0
    cpu = {name: (_cpu_seconds(ps) - cpu0[name]) / seconds for name, ps in groups.items()}
    stats = env.stats
    rows = sorted((_row(name, e) for (name, _), e in stats.entries.items() if name != STARTING),
                  key=lambda r: -r.requests)
    retries = sum(e.num_requests for (name, _), e in stats.entries.items() if name == STARTING)
    errors = sorted(((e.occurrences, f"{e.name}: {e.error}") for e in stats.errors.values()), reverse=True)
    total = stats.total
    # The total without the expected 503s.
    overall = Row("all", total.num_requests - retries, total.num_failures, 0, 0, 0, total.max_response_time)
    overall.p50, overall.p95, overall.p99 = (_total_percentile(stats, p) for p in (0.5, 0.95, 0.99))
    runner.quit()
    profiles = {name: profiling.finish(*spy) for name, spy in spies.items()}
    return Result(phase, seconds, rows, overall, retries, errors, cpu, profiles, calls, users)


def _moto_calls(stack) -> int:  # type: ignore[no-untyped-def]
    """Requests moto has served so far: one werkzeug line each in its log."""
    return count_in_log(stack, "moto", b" HTTP/1.1")


def _total_percentile(stats, percent: float) -> float:  # type: ignore[no-untyped-def]
    from locust.stats import calculate_response_time_percentile

    merged: dict[int, int] = {}
    count = 0
    for (name, _), entry in stats.entries.items():
        if name == STARTING:
            continue
        count += entry.num_requests
        for t, n in entry.response_times.items():
            merged[t] = merged.get(t, 0) + n
    return float(calculate_response_time_percentile(merged, count, percent)) if count else float("nan")


def show(result: Result) -> None:
    p = result.phase
    print(f"\n{p.name}: target {p.rps:.0f} requests/s for {result.seconds:.0f} s → reached "
          f"{result.achieved_rps:.1f}/s ({result.users} users)", flush=True)
    print(f"  {'kind':<14} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for r in [*result.rows, result.total]:
        print(f"  {r.kind:<14} {r.requests:>8} {r.errors:>6} {r.p50:>7.0f} {r.p95:>7.0f} {r.p99:>7.0f} {r.max:>7.0f}")
    print(f"  join retries (503 media_starting, not errors): {result.retries}")
    for count, message in result.errors[:5]:
        print(f"  error ×{count}: {message[:160]}")
    api_ms, moto_ms = (result.cpu.get(name, 0) * 1000 / max(result.achieved_rps, 1e-9) for name in ("api", "moto"))
    print(f"  CPU per request: api {api_ms:.1f} ms, moto {moto_ms:.1f} ms; moto served {result.moto_calls / result.seconds:.0f} "
          f"AWS calls/s (from every process), {result.moto_calls / max(result.total.requests + result.retries, 1):.1f} "
          f"per API request")
    busy = ", ".join(f"{name} {share:.0%}" for name, share in sorted(result.cpu.items(), key=lambda kv: -kv[1]))
    print(f"  CPU (share of one core; the machine has {psutil.cpu_count()}): {busy}", flush=True)
    for name, profile in result.profiles.items():
        print(f"  where {name} spends its time ({profile.samples} py-spy samples of its threads, innermost line):")
        for line, share in profile.top(profile.by_line, 12):
            print(f"    {share:6.1%}  {line}")


def compare(base: Result, target: Result) -> None:
    print(f"\n{target.phase.name} ({target.phase.rps:.0f}/s) vs {base.phase.name} ({base.phase.rps:.0f}/s), p95:")
    before = {r.kind: r for r in [*base.rows, base.total]}
    for r in [*target.rows, target.total]:
        b = before.get(r.kind)
        if b is not None and b.p95 > 0:
            print(f"  {r.kind:<14} {r.p95 / b.p95:>5.1f}x  ({b.p95:.0f} → {r.p95:.0f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    quick = ", ".join(f"{p.rps:.0f}/s for {p.seconds:.0f} s" for p in QUICK.phases)
    parser.add_argument("--quick", action="store_true", help=f"short phases: {quick}")
    parser.add_argument("--profile", action="store_true", help=f"py-spy {' and '.join(PROFILED)} in the last phase")
    args = parser.parse_args()
    load = QUICK if args.quick else FULL
    random.seed(14)
    with running_stack("bench-load", SETTINGS) as stack:
        host = f"http://127.0.0.1:{stack.ports.api}"
        started = time.monotonic()
        seed(Api(host), load)
        print(f"seeded {len(seeded.people)} people, {len(seeded.spaces)} live spaces (each with its worker) "
              f"in {time.monotonic() - started:.0f} s; load from Locust {__import__('locust').__version__}, "
              f"FastHttpUser, {load.per_user_rps} tasks/s per user", flush=True)
        for url, spaces in shared_urls(worker_records(stack)).items():
            print(f"reliability: spaces {', '.join(spaces)} were all given the worker at {url}", flush=True)
        results = []
        for phase in load.phases:
            results.append(run_phase(host, phase, load.per_user_rps, stack,
                                     profile=args.profile and phase is load.phases[-1]))
            show(results[-1])
        compare(results[0], results[-1])
        return report_the_run(stack, len(seeded.spaces))


if __name__ == "__main__":
    sys.exit(main())
