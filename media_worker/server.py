"""The worker's HTTP face: /offer, /control, /health, /metrics; plus heartbeat and exit rules.

Every error it answers is JSON in the API's envelope ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from aiortc import RTCSessionDescription

from media_worker import dtls, ice, metrics
from media_worker.auth import InvalidToken, verify_call, verify_media_grant
from media_worker.config import WorkerConfig
from media_worker.connect import OfferRefused, connect, fanouts, parse_offer
from media_worker.hls import HlsStream
from media_worker.http_errors import error_response, errors_as_json
from media_worker.room import Room
from media_worker.senders import SenderPool
from media_worker.standings import OUT, Standings
from media_worker.supervisor import Supervisor
from media_worker.udpmux import UdpMux
from parlor_contract import signatures
from parlor_contract.media import CONTROL_PATH, MEDIA_GRANT_MAX_SECONDS, OFFER_PATH, SPEAKING_PATH, STAGE_ROLES, ControlAction, Role
from parlor_contract.worker import SPACE_ENDED, HeartbeatField, WorkerState

log = logging.getLogger("media_worker")
# Commands about one participant (``{"action", "user_id"}``); close is about the room.
_PER_USER = (ControlAction.SET_ROLE, ControlAction.MUTE, ControlAction.UNMUTE, ControlAction.REMOVE)
# A mix that has not ticked for this long is a dead room: /health says so (503).
STALE_TICK_SECONDS = 1.0


class Worker:
    def __init__(self, config: WorkerConfig, dynamodb: Any | None = None, s3: Any | None = None):
        self.config = config
        # The audience's HLS stream of the listeners' mix, when the worker has a media bucket.
        self.hls = (HlsStream(config.space_id, config.media_bucket, s3, config.recording)
                    if config.media_bucket and s3 is not None else None)
        self.room = Room(config.jitter_frames, on_speaking=self._report_speaking, audience=self.hls,
                         mix_on_arrival=config.mix_on_arrival, new_fanout=fanouts(config))
        self.standings = Standings()  # the API's latest decision on each user, by when it decided
        self._grants = signatures.NonceLedger(keep_seconds=2 * MEDIA_GRANT_MAX_SECONDS)  # each grant admits once
        self._calls = signatures.NonceLedger()  # each control call is obeyed once
        self.stop = asyncio.Event()
        self.state = WorkerState.READY
        self._dynamodb = dynamodb
        self._http: ClientSession | None = None
        self.supervisor = Supervisor(self.stop)
        # With processes ≥ 2, listeners are carried by that many sender processes (media_worker.senders).
        self.senders = SenderPool(config, self.supervisor) if config.processes > 1 else None
        self._occupied_at = 0.0  # when the senders last held a listener
        self.url = config.url  # until start() knows the port actually bound
        self._running = False
        self._started = time.monotonic()
        self.mux: UdpMux | None = None  # every peer's ICE on one UDP port, from start() on (media_worker.udpmux)

    @property
    def failed(self) -> bool:
        """A background task kept crashing: the worker stopped and should exit non-zero."""
        return self.supervisor.failed is not None

    # -- HTTP --------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The HTTP app; the background tasks (mix, heartbeat) start with ``start()``, once its
        port is bound."""
        app = web.Application(client_max_size=64 * 1024, middlewares=[errors_as_json])
        app.router.add_post(OFFER_PATH, self.offer)
        app.router.add_post(CONTROL_PATH, self.control)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.on_cleanup.append(self._shutdown)
        return app

    async def offer(self, request: web.Request) -> web.Response:
        """An offer the API relays with its grant: admitted once, in the role and mute the API
        gave, unless it has decided otherwise since (``Standings``)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise InvalidToken("missing bearer token")
            grant = verify_media_grant(token.strip(), self.config.token_public_key, self.config.space_id)
        except InvalidToken as exc:
            return error_response(401, "invalid_token", f"The media grant is not valid: {exc}")
        if not self._grants.first_use(grant.grant_id):
            return error_response(401, "grant_used", "This media grant was already used: offers go through the API.")
        admitted = self.standings.admit(grant)
        if admitted is None:
            return error_response(403, "not_admitted", "The API has taken this user out of the room since.")
        role, muted = admitted
        try:
            offer = parse_offer(await request.json())
            answer = await self._place(grant.user_id, role, muted, offer)
        except ValueError as exc:  # not JSON
            return error_response(400, "bad_offer", f"The offer is not valid: {exc}")
        except OfferRefused as exc:
            return error_response(exc.status, exc.code, exc.message)
        return web.json_response(answer)

    async def _place(self, user_id: str, role: str, muted: bool, offer: RTCSessionDescription) -> dict[str, str]:
        """The connection goes to the process that carries the role: the stage (and everyone,
        when the worker runs alone) here, a listener to a sender process. A user held by the
        other side (a re-offer after a role change) is dropped there first."""
        if self.senders is None:
            return {"sdp": await connect(self.config, self.room, user_id, role, muted, offer, self.mux), "type": "answer"}
        if role in STAGE_ROLES:
            await self.senders.drop(user_id)
            return {"sdp": await connect(self.config, self.room, user_id, role, muted, offer, self.mux), "type": "answer"}
        await self.room.remove(user_id)
        return await self.senders.offer(user_id, role, muted, {"sdp": offer.sdp, "type": offer.type})

    async def control(self, request: web.Request) -> web.Response:
        """The API's decisions (role, mute, removal, close): signed with this space's key, each
        call obeyed once, each applied unless a later decision on the same user is known."""
        raw = await request.read()
        refused = verify_call(self.config.service_secret, self.config.space_id, CONTROL_PATH, raw,
                              request.headers.get(signatures.HEADER), self._calls)
        if refused == "replayed":
            return error_response(409, "replayed", "This control call was already obeyed.")
        if refused:
            return error_response(401, refused, "Control calls must be signed with this space's key.")
        try:
            command = json.loads(raw)
            action = ControlAction(command["action"])
            decided_at = int(command.get("decided_at", 0))
        except (ValueError, KeyError, TypeError):
            return error_response(400, "bad_command", f"A JSON body with an action ({', '.join(ControlAction)}) is expected.")
        if command.get("space_id") != self.config.space_id:
            return error_response(403, "wrong_space", "This call is for another space.")
        user_id = command.get("user_id")
        if action in _PER_USER and not (isinstance(user_id, str) and decided_at > 0):
            return error_response(400, "bad_command", f"{action} needs a user_id and decided_at.")
        if action == ControlAction.SET_ROLE:
            if command.get("role") not in tuple(Role):
                return error_response(400, "bad_command", "set_role needs a role.")
            if self.standings.set_role(user_id, command["role"], decided_at):
                self.room.set_role(user_id, command["role"])
                if self.senders is not None and command["role"] in STAGE_ROLES:
                    await self.senders.drop(user_id)  # a listener's sender cannot carry the stage: they offer again, here
        elif action in (ControlAction.MUTE, ControlAction.UNMUTE):
            if self.standings.set_muted(user_id, action == ControlAction.MUTE, decided_at):
                self.room.set_muted(user_id, action == ControlAction.MUTE)
        elif action == ControlAction.REMOVE:
            if self.standings.set_role(user_id, OUT, decided_at):
                await self.room.remove(user_id)
                if self.senders is not None:
                    await self.senders.drop(user_id)
        elif action == ControlAction.CLOSE:
            self.stop.set()
        log.info("control", extra={"action": action, "user_id": user_id})
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        """200 ``ok`` while the room's mix runs; 503 ``unhealthy`` (with the reason) when it
        has stopped ticking or a background task kept crashing."""
        body: dict[str, Any] = {"status": "ok", "space_id": self.config.space_id, "state": self.state}
        since_tick = time.monotonic() - self.room.last_tick
        if self.supervisor.failed is not None:
            body.update(status="unhealthy", reason=f"background task {self.supervisor.failed} kept crashing")
        elif since_tick > STALE_TICK_SECONDS:
            body.update(status="unhealthy", reason=f"the mix has not ticked for {since_tick:.1f} s")
        if self.senders is not None:
            down = self.senders.down()
            restarts = sum(self.supervisor.restarts.get(f"sender-{i}", 0) for i in range(len(self.senders.senders)))
            body["senders"] = {"running": self.senders.running(), "down": down, "restarts": restarts}
            if down and body["status"] == "ok":
                body.update(status="unhealthy", reason=f"sender processes {down} are not running")
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """The room's figures summed over this process and its senders, and each process's own
        (``processes``: the mixing one first)."""
        lost = 0
        for participant in list(self.room.stage.values()):  # listeners send nothing
            for stat in (await participant.pc.getStats()).values():
                if getattr(stat, "type", "") == "inbound-rtp":
                    lost += int(getattr(stat, "packetsLost", 0) or 0)
        parts = await self._processes()
        total = metrics.merge(parts)
        return web.json_response({
            "space_id": self.config.space_id,
            "participants": total["participants"],
            "send_path": self.config.send_path,
            "batch": self.room.listeners.fanout.implementation if self.room.listeners.fanout is not None else None,
            "frames_in": total["frames_in"], "packets_out": total["packets_out"], "bytes_out": total["bytes_out"],
            "packets_lost_in": lost, "cpu_seconds": round(total["cpu_seconds"], 3),
            "uptime_seconds": round(time.monotonic() - self._started, 1),
            "hls": self.hls.metrics() if self.hls is not None else None,
            "processes": [{"pid": p["pid"], "sender": p.get("sender"), "listeners": p["participants"].get(Role.LISTENER, 0),
                           "packets_out": p["packets_out"], "cpu_seconds": p["cpu_seconds"]} for p in parts],
            "listeners_loss": metrics.listeners_loss(total),
        })

    async def _processes(self) -> list[dict[str, Any]]:
        """Each process's own report: this one's, then each running sender's."""
        own = metrics.of_process(self.room)
        return [own, *(await self.senders.metrics())] if self.senders is not None else [own]

    # -- background: mixing, heartbeat, exit rules ------------------------------------

    async def start(self, port: int) -> None:
        """Start mixing and heartbeating, once the HTTP port is bound: the heartbeat announces
        the URL of the port this worker actually holds (``port`` 0 asks for any free one)."""
        self.url = self.config.url_for(port)
        ice.set_consent_timeout(self.config.consent_timeout_seconds)
        ice.install_mux()
        dtls.share_contexts()
        self.mux = await UdpMux.open(self.config.bind_host, self.config.udp_port)
        self._http = ClientSession(timeout=ClientTimeout(total=2))
        self.room.last_tick = time.monotonic()
        self._running = True
        self.supervisor.start("mix", lambda: self.room.run(self.stop))
        if self.senders is not None:
            self.room.listeners.tracks.add(self.senders)  # the listeners' mix, once per sender
            self.senders.start()
        self.supervisor.start("heartbeat", self._watch)
        if self.hls is not None:
            self.supervisor.start("hls", self.hls.run)

    async def _shutdown(self, app: web.Application) -> None:
        self.state = WorkerState.CLOSING
        self.stop.set()
        await self.room.close()
        if self.senders is not None:
            await self.senders.close()
        if self._running:  # a worker that never started announces nothing (not even closing)
            await self.heartbeat()
        if self._running and self.hls is not None:  # the mix has stopped: its last segment, the end playlists
            await self.hls.finish()
        await self.supervisor.close()
        if self._http is not None:
            await self._http.close()
        if self.mux is not None:  # after the room: its connections have closed their routes
            self.mux.close()

    async def _watch(self) -> None:
        """Heartbeat every few seconds; stop when the space ended or the room stayed empty."""
        while not self.stop.is_set():
            listeners_elsewhere = await self.heartbeat()
            if listeners_elsewhere:
                self._occupied_at = time.monotonic()
            empty_since = self.room.empty_since
            if empty_since is not None:  # nobody here: since when nobody in the senders either
                empty_since = None if listeners_elsewhere else max(empty_since, self._occupied_at)
            if empty_since is not None and time.monotonic() - empty_since > self.config.empty_grace_seconds:
                log.info("room empty past the grace period: closing")
                self.stop.set()
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=self.config.heartbeat_seconds)
            except TimeoutError:
                pass

    async def heartbeat(self) -> int:
        """Write this worker's record now (URL, state, load over all its processes), and stop if
        the API marked the space ended. The participants its senders hold (0 without senders)."""
        parts = await self._processes()
        elsewhere = sum(sum(p["participants"].values()) for p in parts[1:])
        dynamodb = self._dynamodb
        if dynamodb is None or not self.config.workers_table:
            return elsewhere
        total = metrics.merge(parts)
        now = datetime.now(UTC)
        values = {HeartbeatField.URL: {"S": self.url}, HeartbeatField.STATE: {"S": str(self.state)},
                  HeartbeatField.PARTICIPANTS: {"M": {k: {"N": str(v)} for k, v in total["participants"].items()}},
                  HeartbeatField.PACKETS_FORWARDED: {"N": str(total["packets_out"])},
                  HeartbeatField.CPU_SECONDS: {"N": f"{total['cpu_seconds']:.3f}"}, HeartbeatField.PID: {"N": str(os.getpid())},
                  HeartbeatField.HEARTBEAT_AT: {"S": now.isoformat().replace("+00:00", "Z")},
                  HeartbeatField.EXPIRES_AT: {"N": str(int((now + timedelta(days=1)).timestamp()))}}
        names = {f"#{name}": str(name) for name in values}
        given = {f":{name}": value for name, value in values.items()}
        condition = {}
        if self.config.identity:  # only while the record is still this worker's
            names["#me"], given[":me"] = HeartbeatField.WORKER_ID, {"S": self.config.identity}
            condition = {"ConditionExpression": "#me = :me"}
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, lambda: dynamodb.update_item(
                TableName=self.config.workers_table, Key={str(HeartbeatField.SPACE_ID): {"S": self.config.space_id}},
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ExpressionAttributeNames=names, ExpressionAttributeValues=given, ReturnValues="ALL_NEW", **condition))
        except dynamodb.exceptions.ConditionalCheckFailedException:
            # The API replaced this worker (it went silent, or its hand-over failed): another
            # serves the space now. Leave its record alone and stop.
            if not self.stop.is_set():
                log.warning("another worker serves this space: closing")
                self.stop.set()
            return elsewhere
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried next time
            log.warning("heartbeat failed", extra={"error": str(exc)})
            return elsewhere
        if result.get("Attributes", {}).get(HeartbeatField.SPACE_STATE, {}).get("S") == SPACE_ENDED:
            log.info("the space has ended: closing")
            self.stop.set()
        return elsewhere

    async def _report_speaking(self, speakers: list[tuple[str, float]]) -> None:
        if not self.config.api_url or self._http is None:
            return
        body = json.dumps({"speakers": [{"user_id": u, "level": min(1.0, lv)} for u, lv in speakers],
                           "at": datetime.now(UTC).isoformat()}).encode()
        path = SPEAKING_PATH.format(space_id=self.config.space_id)
        key = signatures.space_key(self.config.service_secret, self.config.space_id)
        headers = {"Content-Type": "application/json", signatures.HEADER: signatures.sign_request(key, "POST", path, body)}
        url = self.config.api_url + path
        try:
            async with self._http.post(url, data=body, headers=headers):
                pass
        except Exception as exc:  # noqa: BLE001 - speaking indicators are best effort
            log.warning("speaking report failed", extra={"error": str(exc)})
