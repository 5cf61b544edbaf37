"""``python -m media_worker``: serve one space until told to close, the space ends, or the
room stays empty past the grace period.

Exit status: 0 when it stopped as told, 2 on a bad setting, 1 when it cannot learn its public
address on AWS, cannot bind its port or a background task kept crashing (the API then replaces it)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from media_worker import address, hls, ice, logs, pool
from media_worker.config import ConfigError, WorkerConfig
from media_worker.server import Worker

log = logging.getLogger("media_worker")


async def serve(config: WorkerConfig) -> int:
    """Serve until stopped; the process's exit status."""
    import boto3

    if config.bind_host != ice.ANY_ADDRESS:
        ice.gather_only_on(config.bind_host)
    dynamodb = boto3.client("dynamodb") if config.workers_table else None
    worker = Worker(config, dynamodb, hls.s3_client() if config.media_bucket else None)
    # No access log: the worker logs what it did with each call (and never the bearer token).
    runner = web.AppRunner(worker.app(), access_log=None)
    await runner.setup()
    # Bind first, then announce: the first heartbeat names a port this worker holds.
    try:
        await web.TCPSite(runner, config.bind_host, config.port).start()
    except OSError as exc:
        log.error("cannot listen", extra={"host": config.bind_host, "port": config.port, "error": str(exc)})
        await runner.cleanup()
        return 1
    await worker.start(runner.addresses[0][1])
    # SIGTERM (ECS's stop_task, the local launcher after its grace) stops like a close: the
    # room's HLS stream still gets its last segment and its end playlists (within its deadline).
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop.set)
    log.info("listening", extra={"url": worker.url})
    await worker.stop.wait()
    await runner.cleanup()
    return 1 if worker.failed else 0


def main() -> None:
    logs.configure()
    try:
        config = WorkerConfig.load(sys.argv[1:])
    except ConfigError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        raise SystemExit(2) from None
    if config.space_id:
        logs.configure(space_id=config.space_id)
    else:  # a warm-pool worker: it serves the space the API claims it for
        logs.configure(pool_slot=config.pool_slot)
    try:  # before it binds and announces anything: an unreachable URL would take joins nowhere
        config = address.with_public_address(config, os.environ)
    except address.DiscoveryFailed as exc:
        log.error("cannot learn the public address", extra={"error": str(exc)})
        raise SystemExit(1) from None
    serving = serve(config) if config.space_id else pool.serve_when_claimed(config, serve)
    raise SystemExit(asyncio.run(serving))


if __name__ == "__main__":
    main()
