"""A warm-pool worker: started with a pool slot instead of a space, it binds its port and
waits, ready, until the API claims it for a space going live; then it serves that space
like any worker, on the same port.

While it waits it answers ``GET /health`` (``{"status": "idle"}``) and the API's signed
``POST /claim`` (``{"space_id", "worker_id", "recording"}``: ``recording``, whether the
space's HLS stream is kept, defaults to true), and heartbeats its slot in the pool table
(state idle, its URL), only while the slot is still its own (``worker_id``). A heartbeat
that finds the slot claimed for it is a claim too (the call was lost); one that finds the
slot given to another worker (the API took it for silent) ends the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any, Awaitable, Callable

from aiohttp import web

from media_worker import logs
from media_worker.auth import verify_call
from media_worker.config import WorkerConfig
from media_worker.http_errors import error_response, errors_as_json
from parlor_contract import signatures
from parlor_contract.worker import POOL_CLAIM_PATH, PoolField, PoolState

log = logging.getLogger("media_worker")


class SlotLost(Exception):
    """The slot was given to another worker: this one is no longer in the pool."""


class PooledWorker:
    def __init__(self, config: WorkerConfig, dynamodb: Any):
        self.config = config
        self._dynamodb = dynamodb
        self.claimed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.recording = config.recording  # the claim's, once claimed (a claim learned from the slot keeps the default)
        self.url = ""
        self._calls = signatures.NonceLedger()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024, middlewares=[errors_as_json])
        app.router.add_get("/health", self.health)
        app.router.add_post(POOL_CLAIM_PATH, self.claim)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "idle", "space_id": None, "slot": self.config.pool_slot})

    async def claim(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
            space_id, worker_id = str(body["space_id"]), str(body["worker_id"])
            recording = body.get("recording", True)
            if not isinstance(recording, bool):
                raise TypeError("recording must be a boolean")
        except (ValueError, KeyError, TypeError, AttributeError):
            return error_response(400, "bad_claim", 'A JSON body {"space_id", "worker_id", "recording"} is expected.')
        # Signed with the key of the space it names, like every call about a space.
        refused = verify_call(self.config.service_secret, space_id, POOL_CLAIM_PATH, raw,
                              request.headers.get(signatures.HEADER), self._calls)
        if refused:
            return error_response(401, refused, "Claims must be signed with the space's key, once.")
        if worker_id != self.config.pool_worker_id:
            return error_response(409, "wrong_worker", "This claim is for another pooled worker.")
        if self.claimed.done() and self.claimed.result() != space_id:
            return error_response(409, "already_claimed", "This worker serves another space.")
        if not self.claimed.done():
            self.recording = recording
            self.claimed.set_result(space_id)
        log.info("claimed", extra={"claimed_space_id": space_id})
        return web.json_response({"ok": True})

    async def heartbeat(self) -> None:
        """Say this worker is idle at its URL; take a claim the record shows. Raises ``SlotLost``."""
        now = datetime.now(UTC)
        values = {PoolField.STATE: {"S": PoolState.IDLE}, PoolField.URL: {"S": self.url},
                  PoolField.PID: {"N": str(os.getpid())},
                  PoolField.HEARTBEAT_AT: {"S": now.isoformat().replace("+00:00", "Z")},
                  PoolField.EXPIRES_AT: {"N": str(int((now + timedelta(days=1)).timestamp()))}}
        key = {str(PoolField.SLOT): {"S": self.config.pool_slot}}
        names = {f"#{name}": str(name) for name in [*values, PoolField.WORKER_ID]}
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, lambda: self._dynamodb.update_item(
                TableName=self.config.pool_table, Key=key,
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ConditionExpression=f"#{PoolField.WORKER_ID} = :me AND #{PoolField.STATE} IN (:starting, :idle)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**{f":{name}": value for name, value in values.items()},
                                           ":me": {"S": self.config.pool_worker_id}, ":starting": {"S": PoolState.STARTING},
                                           ":idle": {"S": PoolState.IDLE}}))
            return
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            pass
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried next time
            log.warning("pool heartbeat failed", extra={"error": str(exc)})
            return
        item = (await loop.run_in_executor(None, lambda: self._dynamodb.get_item(
            TableName=self.config.pool_table, Key=key, ConsistentRead=True))).get("Item", {})
        mine = item.get(PoolField.WORKER_ID, {}).get("S") == self.config.pool_worker_id
        if mine and item.get(PoolField.STATE, {}).get("S") == PoolState.CLAIMED and not self.claimed.done():
            self.claimed.set_result(item[PoolField.CLAIMED_BY]["S"])
        elif not mine:
            raise SlotLost()

    async def wait(self) -> str:
        """Heartbeat until claimed; the claimed space id."""
        while not self.claimed.done():
            await self.heartbeat()
            try:
                await asyncio.wait_for(asyncio.shield(self.claimed), timeout=self.config.heartbeat_seconds)
            except TimeoutError:
                pass
        return self.claimed.result()


async def wait_for_claim(config: WorkerConfig, dynamodb: Any) -> WorkerConfig:
    """Serve the pool's endpoints on the worker's port until a claim; the worker's settings
    for the claimed space (on the port it held)."""
    pooled = PooledWorker(config, dynamodb)
    runner = web.AppRunner(pooled.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.bind_host, config.port)
    await site.start()
    port = int(runner.addresses[0][1])  # the port it holds (PORT=0 picks one)
    pooled.url = config.url_for(port)
    log.info("idle in the warm pool", extra={"url": pooled.url, "slot": config.pool_slot})
    try:
        space_id = await pooled.wait()
    finally:
        await runner.cleanup()  # answers the claim before the port is served by the space's worker
    return config.model_copy(update={"space_id": space_id, "port": port, "recording": pooled.recording})


async def serve_when_claimed(config: WorkerConfig, serve: Callable[[WorkerConfig], Awaitable[Any]]) -> Any:
    """Wait in the pool, then ``serve`` the claimed space; what ``serve`` returns (the exit status)."""
    import boto3

    try:
        claimed = await wait_for_claim(config, boto3.client("dynamodb"))
    except SlotLost:
        log.info("the pool slot went to another worker: exiting")
        return 0
    logs.configure(space_id=claimed.space_id)
    log.info("serving the claimed space")
    return await serve(claimed)
