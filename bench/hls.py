"""``python -m bench.hls``: the audience tier's unit costs, on the local stack as real processes
(``local.stack``: moto's S3, the CloudFront stand-in, a worker per space).

One space: the host speaks a pulsed tone (0.5 s on, 0.5 s off: an onset every second) over
WebRTC; an HLS listener (joined with ``{"transport": "hls"}``) plays the stream through the
CDN stand-in with its signed access, polling the playlist every 0.25 s as an eager player.
Printed:

- **latency**, tone onset at the speaker to the HLS client having decoded it, p50/p95 (and the
  worker's share: onset to its place in a segment, by ``EXT-X-PROGRAM-DATE-TIME``);
- **the worker's CPU for HLS** (AAC encoding on the tick, muxing off it: ``/metrics`` ``hls``),
  a fixed cost per room, beside the per-listener cost of WebRTC measured in the same run (the
  worker's CPU with 0 and with N WebRTC listeners);
- **S3 requests per room-hour** (the worker's PUTs, counted by it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

import aiohttp
import numpy as np

from bench.local_stack import Api, running_stack
from media_worker import ice
from tests.hls_client import RATE, HlsClient, Refused, Segment
from tests.media_worker.peers import Peer, ToneTrack, offer_at


@dataclass
class Onsets:
    """Where the speaker's tone starts, on the wall clock: every whole second after ``start``."""

    start_wall: float

    def nearest_before(self, wall: float) -> float:
        return self.start_wall + np.floor(wall - self.start_wall + 0.25)  # allow the worker's own delay


def onsets_in(segment: Segment, settled: int = 10) -> list[int]:
    """Sample offsets in a segment where the tone starts: ``settled`` 10 ms blocks of silence
    before, as many of tone after (a pulse is 0.5 s on, 0.5 s off), wholly inside the segment."""
    block = RATE // 100
    samples = segment.samples[: len(segment.samples) // block * block]
    if not len(samples):
        return []
    rms = np.sqrt(np.mean(np.square(samples.reshape(-1, block), dtype=np.float64), axis=1))
    loud = rms > max(0.3 * rms.max(), 0.01)
    return [i * block for i in range(settled, len(loud) - settled)
            if loud[i: i + settled].all() and not loud[i - settled: i].any()]


async def _worker_metrics(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(url + "/metrics") as reply:
        return dict(await reply.json())


async def measure(seconds: float, listeners: int) -> None:
    ice.gather_only_on("127.0.0.1")
    with running_stack("bench-hls", {"PARLOR_HOST_MIN_FOLLOWERS": "0", "PARLOR_MEDIA_WARM_POOL": "0"}) as stack:
        api = Api(f"http://127.0.0.1:{stack.ports.api}")
        host = api.sign_up("hlsb_host")
        space_id = api.call("POST", "/v1/spaces", {"title": "HLS bench"}, token=host["token"])["id"]
        joined = api.join(space_id, host["token"])
        from bench.local_stack import worker_records

        worker_url = worker_records(stack)[space_id].url
        assert worker_url, "the worker has no URL"
        async with aiohttp.ClientSession() as session:
            tone = ToneTrack(440, pulse=0.5)
            status, body, speaker = await offer_at(session, joined["media"]["offer_url"], host["token"], track=tone)
            assert status == 200, body
            hearer = api.sign_up("hlsb_hls")
            access = api.call("POST", f"/v1/spaces/{space_id}/join", {"transport": "hls"}, token=hearer["token"])["hls"]
            player = HlsClient(access["url"], access["query"])
            while True:  # the stream's first segment
                try:
                    if player.poll(from_live_edge=1):
                        break
                except Refused as refused:
                    if refused.status != 404:
                        raise
                await asyncio.sleep(0.25)
            assert tone._start is not None
            onsets = Onsets(start_wall=tone._start + (time.time() - time.monotonic()))
            before = await _worker_metrics(session, worker_url)
            started = time.monotonic()
            latencies, worker_share = [], []
            while time.monotonic() - started < seconds:
                for segment in await asyncio.to_thread(player.poll):
                    if segment.program_date_time is None:
                        continue
                    segment_wall = segment.program_date_time.timestamp()
                    for offset in onsets_in(segment):
                        heard_at_worker = segment_wall + offset / RATE
                        spoken = onsets.nearest_before(heard_at_worker)
                        worker_share.append(heard_at_worker - spoken)
                        latencies.append(segment.decoded_at - spoken)
                await asyncio.sleep(0.25)
            after = await _worker_metrics(session, worker_url)
            elapsed = time.monotonic() - started
            webrtc = await _per_listener_cpu(session, api, space_id, worker_url, listeners, min(20.0, seconds / 2))
            await speaker.close()
        _report(latencies, worker_share, before, after, elapsed, player.gaps(), webrtc, listeners)
        sizes = [s.size for s in player.segments]
        print("HLS bytes a listener fetches:")
        print(f"  segment mean {statistics.mean(sizes) / 1000:.1f} KB ({statistics.mean(sizes) * 8 / 2000:.0f} kb/s of 2 s segments),"
              f" live playlist {player.playlist_bytes / 1000:.1f} KB")


async def _per_listener_cpu(session: aiohttp.ClientSession, api: Api, space_id: str, worker_url: str, count: int,
                            seconds: float) -> tuple[float, float]:
    """The worker's CPU (cores) over ``seconds`` with no WebRTC listener, then with ``count``."""
    async def cores() -> float:
        first = await _worker_metrics(session, worker_url)
        await asyncio.sleep(seconds)
        second = await _worker_metrics(session, worker_url)
        return (second["cpu_seconds"] - first["cpu_seconds"]) / (second["uptime_seconds"] - first["uptime_seconds"])

    idle = await cores()
    peers: list[Peer] = []
    for n in range(count):
        person = api.sign_up(f"hlsb_rtc_{n}")
        joined = api.join(space_id, person["token"])
        status, body, peer = await offer_at(session, joined["media"]["offer_url"], person["token"])
        assert status == 200, body
        peers.append(peer)
    await asyncio.sleep(2)  # connected and receiving
    loaded = await cores()
    for peer in peers:
        await peer.close()
    return idle, loaded


def _report(latencies: list[float], worker_share: list[float], before: dict, after: dict, elapsed: float,
            gaps: list[str], webrtc: tuple[float, float], listeners: int) -> None:
    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    hls_before, hls_after = before["hls"], after["hls"]
    hls_cores = (hls_after["cpu_seconds"] - hls_before["cpu_seconds"]) / elapsed
    worker_cores = (after["cpu_seconds"] - before["cpu_seconds"]) / elapsed
    puts = hls_after["puts"] - hls_before["puts"]
    segments = hls_after["segments_uploaded"] - hls_before["segments_uploaded"]
    idle, loaded = webrtc
    per_listener = (loaded - idle) / listeners if listeners else float("nan")
    print(f"HLS latency, tone onset at the speaker -> decoded by the HLS client ({len(latencies)} onsets over {elapsed:.0f} s,"
          " 2 s segments, playlist polled every 0.25 s):")
    print(f"  p50 {pct(latencies, 50):.2f} s   p95 {pct(latencies, 95):.2f} s   max {max(latencies, default=float('nan')):.2f} s")
    print(f"  of which the worker (onset -> its place in a segment): p50 {pct(worker_share, 50) * 1000:.0f} ms"
          f"   p95 {pct(worker_share, 95) * 1000:.0f} ms")
    print(f"  segments continuous: {not gaps} {gaps[:3] if gaps else ''}")
    print("Worker CPU (share of one core):")
    print(f"  HLS (AAC encode + TS mux), fixed per room: {hls_cores * 100:.2f}%   whole worker, 1 speaker + HLS: {worker_cores * 100:.2f}%")
    print(f"  WebRTC, same run: {idle * 100:.2f}% with no WebRTC listener, {loaded * 100:.2f}% with {listeners}:"
          f" {per_listener * 100:.3f}% per listener")
    if per_listener > 0:
        print(f"  ratio: HLS for a whole room costs as much as {hls_cores / per_listener:.1f} WebRTC listeners")
    print("S3 requests per room-hour (the worker's PUTs: segments + live playlist):")
    print(f"  {puts} PUTs for {segments} segments in {elapsed:.0f} s -> {puts / elapsed * 3600:.0f} per room-hour"
          f" ({segments / elapsed * 3600:.0f} segments)")
    summary = statistics.mean(latencies) if latencies else float("nan")
    print(f"  (mean latency {summary:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 s instead of 90 s")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--listeners", type=int, default=20, help="WebRTC listeners for the per-listener cost")
    args = parser.parse_args()
    seconds = args.seconds or (30.0 if args.quick else 90.0)
    asyncio.run(measure(seconds, 5 if args.quick else args.listeners))


if __name__ == "__main__":
    main()
