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
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media_worker import ice
from media_worker.auth import InvalidToken, verify_call, verify_media_grant
from media_worker.config import WorkerConfig
from media_worker.fastpath import FastSender, IdleTrack, tune_jitter_buffers
from media_worker.hls import HlsStream
from media_worker.http_errors import error_response, errors_as_json
from media_worker.room import Participant, Room
from media_worker.standings import OUT, Standings
from media_worker.supervisor import Supervisor
from media_worker.udpmux import UdpMux
from parlor_contract import signatures
from parlor_contract.media import CONTROL_PATH, MEDIA_GRANT_MAX_SECONDS, OFFER_PATH, SPEAKING_PATH, ControlAction, Role
from parlor_contract.worker import SPACE_ENDED, HeartbeatField, WorkerState

log = logging.getLogger("media_worker")
# Commands about one participant (``{"action", "user_id"}``); close is about the room.
_PER_USER = (ControlAction.SET_ROLE, ControlAction.MUTE, ControlAction.UNMUTE, ControlAction.REMOVE)
# A mix that has not ticked for this long is a dead room: /health says so (503).
STALE_TICK_SECONDS = 1.0
_OPUS = [codec for codec in RTCRtpSender.getCapabilities("audio").codecs if codec.mimeType.lower() == "audio/opus"]


class Worker:
    def __init__(self, config: WorkerConfig, dynamodb: Any | None = None, s3: Any | None = None):
        self.config = config
        # The audience's HLS stream of the listeners' mix, when the worker has a media bucket.
        self.hls = (HlsStream(config.space_id, config.media_bucket, s3, config.recording)
                    if config.media_bucket and s3 is not None else None)
        self.room = Room(config.jitter_frames, on_speaking=self._report_speaking, audience=self.hls)
        self.standings = Standings()  # the API's latest decision on each user, by when it decided
        self._grants = signatures.NonceLedger(keep_seconds=2 * MEDIA_GRANT_MAX_SECONDS)  # each grant admits once
        self._calls = signatures.NonceLedger()  # each control call is obeyed once
        self.stop = asyncio.Event()
        self.state = WorkerState.READY
        self._dynamodb = dynamodb
        self._http: ClientSession | None = None
        self.supervisor = Supervisor(self.stop)
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
            body = await request.json()
            offer = RTCSessionDescription(sdp=ice.without_mdns_candidates(str(body["sdp"])), type=str(body["type"]))
            if offer.type != "offer" or "m=audio" not in offer.sdp:
                raise ValueError("an offer with one audio section is expected")
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(400, "bad_offer", f"The offer is not valid: {exc}")
        ice_servers = [RTCIceServer(urls=[self.config.stun_url])] if self.config.stun_url else []
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        # aiortc announces the offer's tracks during setRemoteDescription, before the
        # participant exists: hold them until it does.
        inbound: list[MediaStreamTrack] = []
        pc.on("track", inbound.append)
        # The mix goes out as the Opus packets it was encoded into (media_worker.mixer): the
        # answer names Opus alone, whatever the offer preferred (aiortc answers in the offer's
        # order, and would label them PCMU for an offer listing PCMU first). The offer's audio
        # section takes this transceiver; an offer without Opus is refused.
        pc.addTransceiver("audio", direction="recvonly").setCodecPreferences(_OPUS)
        try:
            await pc.setRemoteDescription(offer)
        except Exception as exc:  # noqa: BLE001 - aiortc raises many kinds on bad SDP
            await pc.close()
            return error_response(400, "bad_offer", f"The offer could not be used: {exc}")
        tune_jitter_buffers(pc, self.config.jitter_prefetch)
        if self.config.fast_path:
            out: MediaStreamTrack = IdleTrack()
            participant = await self.room.admit(grant.user_id, role, pc, out, FastSender(pc, pc.addTrack(out), self.mux),
                                                muted=muted)
        else:
            participant = await self.room.admit(grant.user_id, role, pc, muted=muted)
            pc.addTrack(participant.out)
        for track in inbound:
            self.room.attach_inbound(participant, track)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            # "failed" also when aioice's consent checks expire (a peer gone without a goodbye).
            if pc.connectionState in ("failed", "closed") and self.room.drop(participant):
                log.info("connection lost: dropped", extra={"user_id": grant.user_id, "state": pc.connectionState})

        # A peer whose ICE never completes is never declared failed by aioice (browsers send
        # no end-of-candidates): a deadline takes it out.
        asyncio.get_running_loop().call_later(self.config.connect_timeout_seconds, self._connect_deadline, participant)
        # Overlapping re-offers from one user: the later one wins (Room.admit) and closes this
        # connection; this one is then answered 409 offer_superseded, never an answer for a
        # closed connection (the client keeps the later one's answer).
        try:
            if self.room.participants.get(grant.user_id) is not participant:
                raise _Superseded
            answer = await pc.createAnswer()
            with ice.gathering_on(self.mux):
                await pc.setLocalDescription(answer)  # gathers candidates: the answer carries them (no trickle)
            if self.room.participants.get(grant.user_id) is not participant:
                raise _Superseded
        except Exception:
            if self.room.drop(participant):  # still its own: an unexpected failure (a 500), not an overlap
                raise
            await pc.close()
            log.info("offer superseded", extra={"user_id": grant.user_id})
            return error_response(409, "offer_superseded", "A later offer from the same user replaced this one.")
        sdp = ice.announce(pc.localDescription.sdp, self.config.bind_host, self.config.public_host)
        log.info("offer answered", extra={"user_id": grant.user_id, "role": participant.role, "muted": participant.muted})
        return web.json_response({"sdp": sdp, "type": "answer"})

    def _connect_deadline(self, participant: Participant) -> None:
        if participant.pc.connectionState != "connected" and self.room.drop(participant):
            log.info("not connected in time: dropped", extra={"user_id": participant.user_id,
                                                              "state": participant.pc.connectionState})

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
        elif action in (ControlAction.MUTE, ControlAction.UNMUTE):
            if self.standings.set_muted(user_id, action == ControlAction.MUTE, decided_at):
                self.room.set_muted(user_id, action == ControlAction.MUTE)
        elif action == ControlAction.REMOVE:
            if self.standings.set_role(user_id, OUT, decided_at):
                await self.room.remove(user_id)
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
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

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
            "hls": self.hls.metrics() if self.hls is not None else None,
            "listeners_loss": self._listeners_loss(),
        })

    def _listeners_loss(self) -> dict[str, Any]:
        """What the listeners' latest receiver reports say (media_worker.rtcp, read off the mux:
        no getStats), each participant's about the mix sent to it."""
        by_user = {}
        for participant in list(self.room.participants.values()):
            latest = getattr(getattr(participant.sink, "reports", None), "latest", None)
            if latest is not None:
                by_user[participant.user_id] = {"fraction_lost": round(latest.fraction_lost, 4),
                                                "packets_lost": latest.packets_lost, "jitter": latest.jitter,
                                                "round_trip": participant.sink.reports.round_trip}  # type: ignore[attr-defined]
        return {"reporting": len(by_user), "packets_lost": sum(u["packets_lost"] for u in by_user.values()),
                "worst_fraction_lost": max((u["fraction_lost"] for u in by_user.values()), default=0.0),
                "by_user": by_user}

    # -- background: mixing, heartbeat, exit rules ------------------------------------

    async def start(self, port: int) -> None:
        """Start mixing and heartbeating, once the HTTP port is bound: the heartbeat announces
        the URL of the port this worker actually holds (``port`` 0 asks for any free one)."""
        self.url = self.config.url_for(port)
        ice.set_consent_timeout(self.config.consent_timeout_seconds)
        ice.install_mux()
        self.mux = await UdpMux.open(self.config.bind_host, self.config.udp_port)
        self._http = ClientSession(timeout=ClientTimeout(total=2))
        self.room.last_tick = time.monotonic()
        self._running = True
        self.supervisor.start("mix", lambda: self.room.run(self.stop))
        self.supervisor.start("heartbeat", self._watch)
        if self.hls is not None:
            self.supervisor.start("hls", self.hls.run)

    async def _shutdown(self, app: web.Application) -> None:
        self.state = WorkerState.CLOSING
        self.stop.set()
        await self.room.close()
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
        values = {HeartbeatField.URL: {"S": self.url}, HeartbeatField.STATE: {"S": str(self.state)},
                  HeartbeatField.PARTICIPANTS: {"M": {k: {"N": str(v)} for k, v in self._by_role().items()}},
                  HeartbeatField.PACKETS_FORWARDED: {"N": str(self.room.counters.packets_out)},
                  HeartbeatField.CPU_SECONDS: {"N": f"{time.process_time():.3f}"}, HeartbeatField.PID: {"N": str(os.getpid())},
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
            return
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
        path = SPEAKING_PATH.format(space_id=self.config.space_id)
        key = signatures.space_key(self.config.service_secret, self.config.space_id)
        headers = {"Content-Type": "application/json", signatures.HEADER: signatures.sign_request(key, "POST", path, body)}
        url = self.config.api_url + path
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


class _Superseded(Exception):
    """This offer's connection was replaced by a later offer from the same user."""
