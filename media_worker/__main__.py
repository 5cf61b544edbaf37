"""``python -m media_worker``: serve one space until told to close, the space ends, or the
room stays empty past the grace period."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from media_worker import ice
from media_worker.config import WorkerConfig
from media_worker.server import Worker


async def serve(config: WorkerConfig) -> None:
    import boto3

    if config.bind_host != ice.ANY_ADDRESS:
        ice.gather_only_on(config.bind_host)
    dynamodb = boto3.client("dynamodb") if config.workers_table else None
    worker = Worker(config, dynamodb)
    runner = web.AppRunner(worker.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.bind_host, config.port).start()
    logging.getLogger("media_worker").info('{"event": "listening", "url": "%s"}', config.url)
    await worker.stop.wait()
    await runner.cleanup()


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    asyncio.run(serve(WorkerConfig.from_env(argv=sys.argv[1:])))


if __name__ == "__main__":
    main()
