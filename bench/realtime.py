"""``python -m bench.realtime``: how many sockets one room event reaches per second.

The real app under moto (in-process) with the local WebSocket gateway in a thread; N real
WebSocket clients join one space; one ``message.created`` event is delivered to all of
them through ``RealtimeGateway.deliver`` (the management API, 16 posts in parallel, the
same code the fan-out queue handler runs). Prints the time until every client has it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time

for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[_name]
os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "PARLOR_TABLE_PREFIX": "parlor-bench-rt"})


async def clients(urls: list[str], ready: threading.Event, received: list[float], done: asyncio.Event,
                  stop: asyncio.Event) -> None:
    import websockets

    sockets = [await websockets.connect(url) for url in urls]
    ready.set()

    async def listen(ws) -> None:
        async for _ in ws:
            received.append(time.perf_counter())
            if len(received) == len(sockets):
                done.set()

    tasks = [asyncio.ensure_future(listen(ws)) for ws in sockets]
    await stop.wait()
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [50] if args.quick else [50, 200, 500]

    from moto import mock_aws

    from chalicelib.models.tables import create_all_tables
    from chalicelib.settings import get_settings
    from chalicelib.wiring import build_services, use_services
    from local import generated_secrets
    from local.bootstrap import create_queues, sqs_queue_names
    from local.ws_gateway import create_app
    from tests.conftest import FAST_HASHER, serialized_requests
    from tests.fakes import RecordingMedia
    from tests.servers import ServedApp

    with serialized_requests(), mock_aws():
        create_all_tables(wait=False)
        create_queues(sqs_queue_names())
        from app import app

        gateway = ServedApp(create_app(app))
        # The API refuses to run without its secrets: made for this run, as the local stack makes them.
        settings = get_settings().model_copy(update=dict(
            generated_secrets.load_or_create(None), ws_management_url=f"{gateway.url}/dev",
            realtime_url=f"ws://127.0.0.1:{gateway.port}", host_min_followers=0))
        services = build_services(settings, hasher=FAST_HASHER, media=RecordingMedia())
        use_services(services)
        print(f"{'sockets':>8} {'delivered':>10} {'seconds':>8} {'events/s':>9}")
        for n in sizes:
            host, _ = services.accounts.sign_up(f"h{n}", "Host", "bench-password")
            from chalicelib.services.spaces import NewSpace

            space = services.spaces.create(host.user_id, NewSpace(title="Bench"))
            urls = []
            for i in range(n):
                user, _ = services.accounts.sign_up(f"u{n}x{i}", "Listener", "bench-password")
                joined = services.rooms.join(user.user_id, space.space_id)
                urls.append(f"ws://127.0.0.1:{gateway.port}/?token={joined.realtime_token}")
            loop = asyncio.new_event_loop()
            ready, received = threading.Event(), []
            done, stop = asyncio.Event(), asyncio.Event()
            runner = threading.Thread(target=loop.run_until_complete, args=(clients(urls, ready, received, done, stop),))
            runner.start()
            ready.wait(120)
            time.sleep(0.5)
            ids = [c.connection_id for c in services.realtime_gateway._directory.for_event(
                __import__("chalicelib.events", fromlist=["RoomEvent"]).RoomEvent(
                    "message.created", space.space_id, services.clock.now(), {}))]
            started = time.perf_counter()
            delivered = services.realtime_gateway.deliver({"type": "message.created", "data": {"text": "hi"}}, ids)
            asyncio.run_coroutine_threadsafe(asyncio.wait_for(done.wait(), 60), loop).result(70)
            seconds = max(received) - started
            print(f"{n:>8} {delivered:>10} {seconds:>8.3f} {n / seconds:>9.0f}", flush=True)
            loop.call_soon_threadsafe(stop.set)
            runner.join(30)
            services.spaces.end(host.user_id, space.space_id)
        gateway.stop()


if __name__ == "__main__":
    main()
