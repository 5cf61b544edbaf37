"""Real aiortc peers for the worker tests: speakers that send a tone, listeners that record."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtcpSrPacket, RtpPacket

RATE = 48_000
FRAME = 960


class ToneTrack(MediaStreamTrack):
    """A sine tone, paced in real time like a microphone. With ``pulse`` it sounds only for
    the first ``pulse`` seconds of every second (bursts whose onsets time the delay)."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3, pulse: float | None = None):
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self.pulse = pulse
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._pts / RATE
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        t = (np.arange(FRAME) + self._pts) / RATE
        samples = (self.amplitude * 32767 * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        if self.silent(due):
            samples[:] = 0
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame

    def silent(self, due: float) -> bool:
        """Whether the frame due at ``due`` (monotonic) is silence: past the pulse in its second."""
        return self.pulse is not None and self._pts % RATE >= self.pulse * RATE  # in samples: no float drift


@dataclass
class Peer:
    pc: RTCPeerConnection
    frames: list[np.ndarray] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic time each frame came out of the decoder
    reader: asyncio.Task | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    offered_at: float = 0.0  # monotonic time its offer was posted

    def recent(self, seconds: float) -> np.ndarray:
        wanted = int(seconds * RATE)
        audio = np.concatenate(self.frames) if self.frames else np.zeros(0)
        return audio[-wanted:]

    async def next_audio(self, seconds: float, timeout: float = 10) -> np.ndarray:
        """The next ``seconds`` of audio this peer receives, once it has: a check that something
        is *not* heard means something only over audio that really arrived."""
        start = len(self.frames)
        await until(lambda: sum(len(f) for f in self.frames[start:]) >= seconds * RATE, timeout,
                    f"{seconds} s of audio did not arrive")
        return np.concatenate(self.frames[start:])[: int(seconds * RATE)]

    async def close(self) -> None:
        await self.pc.close()


async def offer(session: aiohttp.ClientSession, url: str, token: str, **kw: Any) -> tuple[int, dict, Peer]:
    """Offer straight to the worker at ``url`` with a media grant (as the API relays one)."""
    return await offer_at(session, f"{url}/offer", token, **kw)


async def offer_at(session: aiohttp.ClientSession, offer_url: str, token: str, tone: float | None = None,
                   sdp_override: str | None = None, track: MediaStreamTrack | None = None,
                   configuration: RTCConfiguration | None = None, apply_answer: bool = True,
                   rewrite: Callable[[str], str] | None = None) -> tuple[int, dict, Peer]:
    """Offer at ``offer_url`` (a client: the API's, from join, with its session token; or a
    worker's with a grant): with a tone (a speaker) or receive-only (a listener);
    ``configuration`` gives ICE servers and policy (a client that may only use a TURN relay).
    Without ``apply_answer`` the peer never starts ICE (it answers no check); ``rewrite``
    changes the offer's SDP on its way (what another client would have sent)."""
    pc = RTCPeerConnection(configuration)
    peer = Peer(pc)
    if track is not None:
        pc.addTrack(track)
    elif tone is not None:
        pc.addTrack(ToneTrack(tone))
    else:
        pc.addTransceiver("audio", direction="recvonly")

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        async def read() -> None:
            try:
                while True:
                    frame = await track.recv()
                    samples = frame.to_ndarray().reshape(-1)
                    channels = len(frame.layout.channels)
                    peer.frames.append(samples.reshape(-1, channels).mean(axis=1) if channels > 1 else samples)
                    peer.arrivals.append(time.monotonic())
            except Exception:  # noqa: BLE001 - the track ended
                peer.ended.set()

        peer.reader = asyncio.ensure_future(read())

    await pc.setLocalDescription(await pc.createOffer())
    sdp = sdp_override if sdp_override is not None else pc.localDescription.sdp
    body = {"sdp": rewrite(sdp) if rewrite is not None else sdp, "type": "offer"}
    peer.offered_at = time.monotonic()
    async with session.post(offer_url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        answer = await resp.json()
        if resp.status == 200 and apply_answer:
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        return resp.status, answer, peer


_HOST_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)", re.MULTILINE)


def behind_mdns(sdp: str) -> str:
    """The offer as a Chromium page without microphone permission sends it: each host
    candidate's address hidden behind a random ``<uuid>.local`` name."""
    return _HOST_CANDIDATE.sub(lambda m: f"{m.group(1)}{uuid.uuid4()}.local{m.group(3)}", sdp)


@dataclass
class SenderReport:
    """An RTCP sender report as a listener received it, beside what it had received by then."""

    ssrc: int
    ntp_seconds: float  # the report's wallclock, as seconds since the NTP epoch
    rtp_timestamp: int
    packets: int  # the sender's counts...
    octets: int
    packets_received: int  # ...and the listener's, when the report arrived
    octets_received: int


@dataclass
class RtcpTap:
    """What a peer's receiver got, packet by packet: RTP (timestamp, arrival wallclock in
    NTP-epoch seconds, payload size) and the sender reports."""

    rtp: list[tuple[int, float]] = field(default_factory=list)
    reports: list[SenderReport] = field(default_factory=list)
    octets: int = 0


def tap_rtcp(peer: Peer) -> RtcpTap:
    """Record what the peer's receivers are handed by its DTLS transport (the peer's own
    objects: the worker is untouched)."""
    from aiortc import clock

    tap = RtcpTap()
    for transceiver in peer.pc.getTransceivers():
        receiver = transceiver.receiver
        handle_rtp, handle_rtcp = receiver._handle_rtp_packet, receiver._handle_rtcp_packet

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int, handle_rtp: Any = handle_rtp) -> None:
            tap.rtp.append((packet.timestamp, clock.current_ntp_time() / 2**32))
            tap.octets += len(packet.payload)
            await handle_rtp(packet, arrival_time_ms)

        async def on_rtcp(packet: Any, handle_rtcp: Any = handle_rtcp) -> None:
            if isinstance(packet, RtcpSrPacket):
                info = packet.sender_info
                tap.reports.append(SenderReport(packet.ssrc, info.ntp_timestamp / 2**32, info.rtp_timestamp,
                                                info.packet_count, info.octet_count, len(tap.rtp), tap.octets))
            await handle_rtcp(packet)

        receiver._handle_rtp_packet = on_rtp
        receiver._handle_rtcp_packet = on_rtcp
    return tap


def vanish(peer: Peer) -> None:
    """The peer's tab is killed: its sockets are shut under it (nothing leaves them, nothing is
    read from them), with no DTLS goodbye and no ICE close; the worker only notices when its
    consent checks go unanswered. (Shut rather than closed: the peer's own objects stay sane,
    and its file descriptors are not freed for another socket to reuse.)"""
    for transceiver in peer.pc.getTransceivers():
        dtls = transceiver.sender.transport or transceiver.receiver.transport
        for protocol in dtls.transport._connection._protocols:
            protocol.transport.pause_reading()
            with contextlib.suppress(OSError):  # ENOTCONN for UDP, yet sending is shut from now on
                protocol.transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)


async def until(condition: Callable[[], bool], timeout: float = 10, message: str = "") -> None:
    """Wait until ``condition()`` holds, polling; fail if it still does not after ``timeout`` s.
    (A fixed sleep is too short on a slow machine and wasted on a fast one.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(message or f"not true within {timeout} s")
        await asyncio.sleep(0.05)


def tone_strength(audio: np.ndarray, frequency: float) -> float:
    """The share of the signal's energy within 15 Hz of ``frequency`` (0..1)."""
    if len(audio) < RATE // 4 or not np.any(audio):
        return 0.0
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    band = (freqs > frequency - 15) & (freqs < frequency + 15)
    return float(power[band].sum() / power.sum())


def hears(audio: np.ndarray, frequency: float) -> bool:
    return tone_strength(audio, frequency) > 0.1


def silent_at(audio: np.ndarray, frequency: float) -> bool:
    return tone_strength(audio, frequency) < 0.01
