"""``python -m media_worker``: serve one space until told to close, the space ends, or the
room stays empty past the grace period."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from media_worker import ice, logs, pool
from media_worker.config import ConfigError, WorkerConfig
from media_worker.server import Worker

log = logging.getLogger("media_worker")


async def serve(config: WorkerConfig) -> None:
    import boto3

    if config.bind_host != ice.ANY_ADDRESS:
        ice.gather_only_on(config.bind_host)
    dynamodb = boto3.client("dynamodb") if config.workers_table else None
    worker = Worker(config, dynamodb)
    # No access log: the worker logs what it did with each call (and never the bearer token).
    runner = web.AppRunner(worker.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.bind_host, config.port).start()
    log.info("listening", extra={"url": config.url})
    await worker.stop.wait()
    await runner.cleanup()


def main() -> None:
    logs.configure()
    try:
        config = WorkerConfig.load(sys.argv[1:])
    except ConfigError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        raise SystemExit(2) from None
    if not config.space_id:  # a warm-pool worker: it serves the space the API claims it for
        logs.configure(pool_slot=config.pool_slot)
        raise SystemExit(asyncio.run(pool.serve_when_claimed(config, serve)))
    logs.configure(space_id=config.space_id)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
