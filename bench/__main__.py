"""``make bench``: run every benchmark in turn; each prints its own table and ratios.

Benchmarks are not tests: they measure, print figures and baselines from the same run,
and the figures go into docs/BENCHMARKS.md by hand after a run.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

SUITES = ["bench.notifications", "bench.realtime", "bench.media", "bench.media_start", "bench.api_load", "bench.live_rooms", "bench.hls"]


def main() -> int:
    parser = argparse.ArgumentParser(description="Run Parlor's benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller loads, for a smoke run")
    parser.add_argument("suites", nargs="*", default=SUITES)
    args = parser.parse_args()
    failed = []
    for suite in args.suites:
        if importlib.util.find_spec(suite) is None:
            print(f"== {suite}: not present, skipped", flush=True)
            continue
        print(f"== {suite}", flush=True)
        result = subprocess.run([sys.executable, "-m", suite, *(["--quick"] if args.quick else [])])
        if result.returncode != 0:
            failed.append(suite)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
