"""One participant's peer connection, from their offer to the worker's answer.

Shared by the mixing process (its stage; everyone when it runs alone) and each sender process
(the listeners given to it, ``media_worker.sender``): whichever process holds a connection
built it here, with its own DTLS/SRTP state, and admitted it into its own ``Room``."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media_worker import batch, dtls, ice
from media_worker.config import WorkerConfig
from media_worker.fastpath import BatchSender, FastSender, IdleTrack, tune_jitter_buffers
from media_worker.room import Participant, Room
from media_worker.udpmux import UdpMux

log = logging.getLogger("media_worker")
_OPUS = [codec for codec in RTCRtpSender.getCapabilities("audio").codecs if codec.mimeType.lower() == "audio/opus"]


def fanouts(config: WorkerConfig) -> Callable[[], batch.Fanout] | None:
    """How a room of this process makes each mix's fanout: on the batch path, the
    implementation ``batch_impl`` picks (the first says which, in the log); else none."""
    return partial(batch.new_fanout, config.batch_impl) if config.send_path == "batch" else None


class OfferRefused(Exception):
    """The offer gets no answer: the HTTP status and the API's error code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Superseded(Exception):
    """This offer's connection was replaced by a later offer from the same user."""


def parse_offer(body: Any) -> RTCSessionDescription:
    """The client's offer (``{"sdp", "type"}``), its mDNS candidates left out (unresolvable
    here); ``OfferRefused`` (400) unless it is an offer with an audio section."""
    try:
        offer = RTCSessionDescription(sdp=ice.without_mdns_candidates(str(body["sdp"])), type=str(body["type"]))
        if offer.type != "offer" or "m=audio" not in offer.sdp:
            raise ValueError("an offer with one audio section is expected")
    except (ValueError, KeyError, TypeError) as exc:
        raise OfferRefused(400, "bad_offer", f"The offer is not valid: {exc}") from None
    return offer


async def connect(config: WorkerConfig, room: Room, user_id: str, role: str, muted: bool,
                  offer: RTCSessionDescription, mux: UdpMux | None = None) -> str:
    """A peer connection for ``user_id`` in ``room`` (replacing theirs, if any), in the role and
    mute the API gave, its ICE on this process's shared socket (``mux``); the answer's SDP.
    ``OfferRefused``: 400 for an offer that cannot be used, 409 when a later offer from the
    same user replaced this one meanwhile."""
    ice_servers = [RTCIceServer(urls=[config.stun_url])] if config.stun_url else []
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
    dtls.use_process_identity(pc)
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
        raise OfferRefused(400, "bad_offer", f"The offer could not be used: {exc}") from None
    tune_jitter_buffers(pc, config.jitter_prefetch)
    if config.fast_path:
        out: MediaStreamTrack = IdleTrack()
        sending = BatchSender if config.send_path == "batch" else FastSender
        participant = await room.admit(user_id, role, pc, out, sending(pc, pc.addTrack(out), mux), muted=muted)
    else:
        participant = await room.admit(user_id, role, pc, muted=muted)
        pc.addTrack(participant.out)
    for track in inbound:
        room.attach_inbound(participant, track)

    @pc.on("connectionstatechange")
    def on_state() -> None:
        # "failed" also when aioice's consent checks expire (a peer gone without a goodbye).
        if pc.connectionState in ("failed", "closed") and room.drop(participant):
            log.info("connection lost: dropped", extra={"user_id": user_id, "state": pc.connectionState})

    # A peer whose ICE never completes is never declared failed by aioice (browsers send
    # no end-of-candidates): a deadline takes it out.
    asyncio.get_running_loop().call_later(config.connect_timeout_seconds, _connect_deadline, room, participant)
    # Overlapping re-offers from one user: the later one wins (Room.admit) and closes this
    # connection; this one is then answered 409 offer_superseded, never an answer for a
    # closed connection (the client keeps the later one's answer).
    try:
        if room.participants.get(user_id) is not participant:
            raise _Superseded
        answer = await pc.createAnswer()
        with ice.gathering_on(mux):
            await pc.setLocalDescription(answer)  # gathers candidates: the answer carries them (no trickle)
        if room.participants.get(user_id) is not participant:
            raise _Superseded
    except Exception:
        if room.drop(participant):  # still its own: an unexpected failure (a 500), not an overlap
            raise
        await pc.close()
        log.info("offer superseded", extra={"user_id": user_id})
        raise OfferRefused(409, "offer_superseded", "A later offer from the same user replaced this one.") from None
    log.info("offer answered", extra={"user_id": user_id, "role": participant.role, "muted": participant.muted})
    return ice.announce(pc.localDescription.sdp, config.bind_host, config.public_host)


def _connect_deadline(room: Room, participant: Participant) -> None:
    if participant.pc.connectionState != "connected" and room.drop(participant):
        log.info("not connected in time: dropped", extra={"user_id": participant.user_id,
                                                          "state": participant.pc.connectionState})
