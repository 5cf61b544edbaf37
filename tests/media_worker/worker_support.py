"""A media worker served on a free loopback port for a test's scenario, with the keys,
tokens and signed control calls the API would use."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Awaitable, Callable

import aiohttp
import jwt
from aiohttp import web

from chalicelib.services.tokens import generate_media_keypair
from media_worker import ice
from media_worker.config import WorkerConfig
from media_worker.server import Worker
from parlor_contract import signatures
from parlor_contract.media import CONTROL_PATH, MEDIA_TOKEN_AUDIENCE

PRIVATE_KEY, PUBLIC_KEY = generate_media_keypair()
SECRET = "worker-test-service-secret-0123456789"
SPACE = "01SPACEFORMEDIATESTS0000000"


def token(user_id: str, role: str, space_id: str = SPACE, ttl: int = 10, key: str = PRIVATE_KEY,
          audience: str = MEDIA_TOKEN_AUDIENCE, muted: bool = False, decided_at: int | None = None,
          grant_id: str | None = None) -> str:
    """A media grant as the API mints one per relayed offer (single use, seconds-long)."""
    now = time.time()
    claims = {"sub": user_id, "space_id": space_id, "role": role, "muted": muted, "jti": grant_id or uuid.uuid4().hex,
              "decided_at": decided_at if decided_at is not None else now_ms(), "aud": audience, "iat": int(now),
              "exp": int(now) + ttl}
    return jwt.encode(claims, key, algorithm="EdDSA")


def now_ms() -> int:
    return int(time.time() * 1000)


def run_with_worker(scenario: Callable[[str, Worker, aiohttp.ClientSession], Awaitable[Any]], s3: Any = None,
                    **overrides: Any) -> Any:
    """Start a worker on a free loopback port (``s3``: the client its HLS stream writes with),
    run the scenario against it, stop everything. One process unless ``processes`` says
    otherwise (the default, the CPUs available, would vary with the machine)."""
    async def main() -> Any:
        ice.gather_only_on("127.0.0.1")
        config = WorkerConfig(**{"space_id": SPACE, "token_public_key": PUBLIC_KEY, "service_secret": SECRET, "port": 0,
                                 "processes": 1, **overrides})
        worker = Worker(config, s3=s3)
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
                  signed_at: float | None = None, key_space: str = SPACE, nonce: str | None = None,
                  path: str = CONTROL_PATH) -> int:
    """A control call as the API's gateway makes it: naming the space, stamped with when it was
    decided, signed with the space's key (``key_space``'s) over method, path, body and a nonce."""
    body = json.dumps({"space_id": SPACE, "decided_at": now_ms(), **command}).encode()
    key = signatures.space_key(secret, key_space)
    headers = {signatures.HEADER: signatures.sign_request(key, "POST", path, body, now=signed_at, nonce=nonce)}
    async with session.post(f"{url}/control", data=body, headers=headers) as resp:
        return resp.status


async def health(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """The worker's /health: its HTTP status and the status it reports."""
    async with session.get(f"{url}/health") as resp:
        return resp.status, (await resp.json())["status"]
