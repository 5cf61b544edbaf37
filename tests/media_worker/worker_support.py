"""A media worker served on a free loopback port for a test's scenario, with the keys,
tokens and signed control calls the API would use."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable

import aiohttp
import jwt
from aiohttp import web

from chalicelib.services.tokens import generate_media_keypair
from media_worker import ice
from media_worker.config import WorkerConfig
from media_worker.server import Worker
from parlor_contract import signatures
from parlor_contract.media import MEDIA_TOKEN_AUDIENCE

PRIVATE_KEY, PUBLIC_KEY = generate_media_keypair()
SECRET = "worker-test-service-secret-0123456789"
SPACE = "01SPACEFORMEDIATESTS0000000"


def token(user_id: str, role: str, space_id: str = SPACE, ttl: int = 120, key: str = PRIVATE_KEY,
          audience: str = MEDIA_TOKEN_AUDIENCE, muted: bool | None = None) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "space_id": space_id, "role": role, "aud": audience, "iat": now, "exp": now + ttl}
    if muted is not None:
        claims["muted"] = muted
    return jwt.encode(claims, key, algorithm="EdDSA")


def run_with_worker(scenario: Callable[[str, Worker, aiohttp.ClientSession], Awaitable[Any]], **overrides: Any) -> Any:
    """Start a worker on a free loopback port, run the scenario against it, stop everything."""
    async def main() -> Any:
        ice.gather_only_on("127.0.0.1")
        config = WorkerConfig(**{"space_id": SPACE, "token_public_key": PUBLIC_KEY, "service_secret": SECRET, "port": 0,
                                 **overrides})
        worker = Worker(config)
        runner = web.AppRunner(worker.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        await worker.start(port)
        try:
            async with aiohttp.ClientSession() as session:
                return await asyncio.wait_for(scenario(f"http://127.0.0.1:{port}", worker, session), timeout=60)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


async def control(session: aiohttp.ClientSession, url: str, command: dict, secret: str = SECRET,
                  signed_at: float | None = None) -> int:
    body = json.dumps(command).encode()
    headers = {signatures.HEADER: signatures.sign(secret, body, now=signed_at)}
    async with session.post(f"{url}/control", data=body, headers=headers) as resp:
        return resp.status


async def health(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """The worker's /health: its HTTP status and the status it reports."""
    async with session.get(f"{url}/health") as resp:
        return resp.status, (await resp.json())["status"]
