"""The worker's HTTP face: /offer, /control, /health, /metrics; plus heartbeat and exit rules."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media_worker import ice
from media_worker.auth import InvalidToken, verify_media_token
from media_worker.config import WorkerConfig
from media_worker.fastpath import FastSender, IdleTrack, tune_jitter_buffers
from media_worker.room import Room
from parlor_contract import signatures
from parlor_contract.media import SPEAKING_PATH, ControlAction, Role
from parlor_contract.worker import SPACE_ENDED, HeartbeatField, WorkerState

log = logging.getLogger("media_worker")
# Commands about one participant (``{"action", "user_id"}``); close is about the room.
_PER_USER = (ControlAction.SET_ROLE, ControlAction.MUTE, ControlAction.UNMUTE, ControlAction.REMOVE)


class Worker:
    def __init__(self, config: WorkerConfig, dynamodb: Any | None = None):
        self.config = config
        self.room = Room(config.jitter_frames, on_speaking=self._report_speaking)
        self.stop = asyncio.Event()
        self.state = WorkerState.READY
        self._dynamodb = dynamodb
        self._http: ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = time.monotonic()

    # -- HTTP --------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/offer", self.offer)
        app.router.add_post("/control", self.control)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.on_startup.append(self._start_background)
        app.on_cleanup.append(self._shutdown)
        return app

    async def offer(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise InvalidToken("missing bearer token")
            grant = verify_media_token(token.strip(), self.config.token_public_key, self.config.space_id)
        except InvalidToken as exc:
            return _error(401, "invalid_token", f"The media token is not valid: {exc}")
        try:
            body = await request.json()
            offer = RTCSessionDescription(sdp=str(body["sdp"]), type=str(body["type"]))
            if offer.type != "offer" or "m=audio" not in offer.sdp:
                raise ValueError("an offer with one audio section is expected")
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, "bad_offer", f"The offer is not valid: {exc}")
        ice_servers = [RTCIceServer(urls=[self.config.stun_url])] if self.config.stun_url else []
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        # aiortc announces the offer's tracks during setRemoteDescription, before the
        # participant exists: hold them until it does.
        inbound: list[MediaStreamTrack] = []
        pc.on("track", inbound.append)
        try:
            await pc.setRemoteDescription(offer)
        except Exception as exc:  # noqa: BLE001 - aiortc raises many kinds on bad SDP
            await pc.close()
            return _error(400, "bad_offer", f"The offer could not be used: {exc}")
        tune_jitter_buffers(pc, self.config.jitter_prefetch)
        if self.config.fast_path:
            out: MediaStreamTrack = IdleTrack()
            participant = await self.room.admit(grant.user_id, grant.role, pc, out, FastSender(pc, pc.addTrack(out)))
        else:
            participant = await self.room.admit(grant.user_id, grant.role, pc)
            pc.addTrack(participant.out)
        for track in inbound:
            self.room.attach_inbound(participant, track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and self.room.participants.get(grant.user_id) is participant:
                await self.room.remove(grant.user_id)

        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # gathers candidates: the answer carries them (no trickle)
        sdp = ice.announce(pc.localDescription.sdp, self.config.bind_host, self.config.public_host)
        log.info("offer answered", extra={"user_id": grant.user_id, "role": grant.role})
        return web.json_response({"sdp": sdp, "type": "answer"})

    async def control(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not signatures.verify(self.config.service_secret, raw, request.headers.get(signatures.HEADER)):
            return _error(401, "invalid_signature", "Control calls must be signed with the service secret.")
        try:
            command = json.loads(raw)
            action = ControlAction(command["action"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "bad_command", f"A JSON body with an action ({', '.join(ControlAction)}) is expected.")
        user_id = command.get("user_id")
        if action in _PER_USER and not isinstance(user_id, str):
            return _error(400, "bad_command", f"{action} needs a user_id.")
        if action == ControlAction.SET_ROLE:
            if command.get("role") not in tuple(Role):
                return _error(400, "bad_command", "set_role needs a role.")
            self.room.set_role(user_id, command["role"])
        elif action in (ControlAction.MUTE, ControlAction.UNMUTE):
            self.room.set_muted(user_id, action == ControlAction.MUTE)
        elif action == ControlAction.REMOVE:
            await self.room.remove(user_id)
        elif action == ControlAction.CLOSE:
            self.stop.set()
        log.info("control", extra={"action": action, "user_id": user_id})
        return web.json_response({"ok": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "space_id": self.config.space_id, "state": self.state})

    async def metrics(self, request: web.Request) -> web.Response:
        lost = 0
        for participant in list(self.room.stage.values()):  # listeners send nothing
            for stat in (await participant.pc.getStats()).values():
                if getattr(stat, "type", "") == "inbound-rtp":
                    lost += int(getattr(stat, "packetsLost", 0) or 0)
        c = self.room.counters
        return web.json_response({
            "space_id": self.config.space_id,
            "participants": self._by_role(),
            "frames_in": c.frames_in, "packets_out": c.packets_out, "bytes_out": c.bytes_out, "packets_lost_in": lost,
            "cpu_seconds": round(time.process_time(), 3), "uptime_seconds": round(time.monotonic() - self._started, 1),
        })

    # -- background: mixing, heartbeat, exit rules ------------------------------------

    async def _start_background(self, app: web.Application) -> None:
        self._http = ClientSession(timeout=ClientTimeout(total=2))
        self._tasks = [asyncio.ensure_future(self.room.run(self.stop)), asyncio.ensure_future(self._watch())]

    async def _shutdown(self, app: web.Application) -> None:
        self.state = WorkerState.CLOSING
        self.stop.set()
        await self.room.close()
        await self.heartbeat()
        for task in self._tasks:
            task.cancel()
        if self._http is not None:
            await self._http.close()

    async def _watch(self) -> None:
        """Heartbeat every few seconds; stop when the space ended or the room stayed empty."""
        while not self.stop.is_set():
            await self.heartbeat()
            empty_since = self.room.empty_since
            if empty_since is not None and time.monotonic() - empty_since > self.config.empty_grace_seconds:
                log.info("room empty past the grace period: closing")
                self.stop.set()
            try:
                await asyncio.wait_for(self.stop.wait(), timeout=self.config.heartbeat_seconds)
            except TimeoutError:
                pass

    async def heartbeat(self) -> None:
        """Write this worker's record now (URL, state, load), and stop if the API marked the space ended."""
        dynamodb = self._dynamodb
        if dynamodb is None or not self.config.workers_table:
            return
        now = datetime.now(UTC)
        values = {HeartbeatField.URL: {"S": self.config.url}, HeartbeatField.STATE: {"S": str(self.state)},
                  HeartbeatField.PARTICIPANTS: {"M": {k: {"N": str(v)} for k, v in self._by_role().items()}},
                  HeartbeatField.PACKETS_FORWARDED: {"N": str(self.room.counters.packets_out)},
                  HeartbeatField.CPU_SECONDS: {"N": f"{time.process_time():.3f}"}, HeartbeatField.PID: {"N": str(os.getpid())},
                  HeartbeatField.HEARTBEAT_AT: {"S": now.isoformat().replace("+00:00", "Z")},
                  HeartbeatField.EXPIRES_AT: {"N": str(int((now + timedelta(days=1)).timestamp()))}}
        try:
            result = await asyncio.get_running_loop().run_in_executor(None, lambda: dynamodb.update_item(
                TableName=self.config.workers_table, Key={str(HeartbeatField.SPACE_ID): {"S": self.config.space_id}},
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ExpressionAttributeNames={f"#{name}": str(name) for name in values},
                ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
                ReturnValues="ALL_NEW"))
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried next time
            log.warning("heartbeat failed", extra={"error": str(exc)})
            return
        if result.get("Attributes", {}).get(HeartbeatField.SPACE_STATE, {}).get("S") == SPACE_ENDED:
            log.info("the space has ended: closing")
            self.stop.set()

    async def _report_speaking(self, speakers: list[tuple[str, float]]) -> None:
        if not self.config.api_url or self._http is None:
            return
        body = json.dumps({"speakers": [{"user_id": u, "level": min(1.0, lv)} for u, lv in speakers],
                           "at": datetime.now(UTC).isoformat()}).encode()
        url = self.config.api_url + SPEAKING_PATH.format(space_id=self.config.space_id)
        headers = {"Content-Type": "application/json", signatures.HEADER: signatures.sign(self.config.service_secret, body)}
        try:
            async with self._http.post(url, data=body, headers=headers):
                pass
        except Exception as exc:  # noqa: BLE001 - speaking indicators are best effort
            log.warning("speaking report failed", extra={"error": str(exc)})

    def _by_role(self) -> dict[str, int]:
        counts = {str(role): 0 for role in Role}
        for participant in self.room.participants.values():
            counts[participant.role] = counts.get(participant.role, 0) + 1
        return counts


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
