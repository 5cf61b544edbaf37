"""The fast fan-out path and the aiortc internals it relies on (this test fails first if an
aiortc/aioice upgrade moves them)."""

from __future__ import annotations

import asyncio
import inspect

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtcpRrPacket, RtpPacket

from media_worker.fastpath import BatchSender, FastSender, ImmediateAudioBuffer, tune_jitter_buffers
from tests.media_worker.peers import hears, offer, silent_at, until
from tests.media_worker.worker_support import run_with_worker, token


def test_the_internals_the_fast_path_uses_are_there():
    async def probe() -> None:
        pc = RTCPeerConnection()
        sender = pc.addTransceiver("audio", direction="sendonly").sender
        assert isinstance(sender._ssrc, int)
        assert isinstance(sender.transport, RTCDtlsTransport)
        assert hasattr(sender.transport, "_tx_srtp")
        assert hasattr(sender.transport.transport, "_connection")
        assert isinstance(sender.transport.transport._connection._nominated, dict)
        for noted in ("__lsr", "__packet_count", "__octet_count"):
            assert hasattr(sender, "_RTCRtpSender" + noted)
        assert callable(sender._send_rtcp)
        fast = FastSender(pc, sender)
        assert fast.push(b"\xf8\xff\xfe", 960) is False  # not connected: nothing sent...
        assert isinstance(fast.sender_report(), RtcpRrPacket)  # ...so no sender report (RFC 3550 6.4)
        receiver = pc.getTransceivers()[0].receiver
        assert receiver._RTCRtpReceiver__jitter_buffer._prefetch == 4  # aiortc's default, which we tune
        tune_jitter_buffers(pc, 1)
        assert receiver._RTCRtpReceiver__jitter_buffer._prefetch == 1
        tune_jitter_buffers(pc, 0)
        assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, ImmediateAudioBuffer)
        await pc.close()

    asyncio.run(probe())
    handle_rtp = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "packet._data = depayload(codec, packet.payload)" in handle_rtp
    assert "self.__jitter_buffer.add(packet)" in handle_rtp
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in inspect.getsource(aioice.ice.Connection.sendto)
    assert "self._tx_srtp.protect(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
    run_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)  # its reports go through _send_rtcp, after noting LSR
    assert run_rtcp.index("self.__lsr = ") < run_rtcp.index("await self._send_rtcp(packets)")
    assert RTCRtpSender.__init__ is not None


@pytest.mark.parametrize(("send_path", "batch_impl"), [("batch", "compiled"), ("batch", "python"), ("fast", "auto"),
                                                      ("naive", "auto")],
                         ids=["batch", "batch fallback", "fast path", "aiortc sender"])
def test_every_delivery_path_carries_the_mix(send_path, batch_impl):
    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.8), 440), message="the listener hears the speaker")
        assert silent_at(await ada.next_audio(0.8), 440)
        sink = worker.room.participants["dan"].sink
        assert isinstance(sink, FastSender) == (send_path != "naive")
        assert isinstance(sink, BatchSender) == (send_path == "batch")
        if send_path != "naive":  # ~50 packets a second go out past aiortc's sender
            await until(lambda: sink.counts()[0] > 50)
        if send_path == "batch":
            fanout = worker.room.listeners.fanout
            assert fanout is not None and len(fanout) == 1 and fanout.implementation == batch_impl
            metrics = await (await session.get(f"{url}/metrics")).json()
            assert (metrics["send_path"], metrics["batch"]) == ("batch", batch_impl)
        await ada.close()
        await dan.close()

    run_with_worker(scenario, send_path=send_path, batch_impl=batch_impl)


def opus_packet(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960)
    packet._data = bytes([seq & 0xFF]) * 3  # type: ignore[attr-defined]
    return packet


def test_the_immediate_buffer_hands_each_packet_on_as_it_arrives():
    buffer = ImmediateAudioBuffer()
    for seq in (65534, 65535, 0, 1):  # across the sequence number's wrap
        _, frame = buffer.add(opus_packet(seq))
        assert frame is not None and frame.timestamp == seq * 960 and frame.data == bytes([seq & 0xFF]) * 3


def test_the_immediate_buffer_drops_duplicates_and_late_packets_but_not_after_a_gap():
    buffer = ImmediateAudioBuffer()
    assert buffer.add(opus_packet(100))[1] is not None
    assert buffer.add(opus_packet(100))[1] is None  # a duplicate
    assert buffer.add(opus_packet(99))[1] is None  # older than what was decoded
    assert buffer.add(opus_packet(105))[1] is not None  # 101-104 lost: carry on
    assert buffer.add(opus_packet(103))[1] is None  # one of them, too late


def test_the_fast_path_stops_sending_on_a_socket_closed_under_it():
    """aioice closes a peer's socket when its consent expires; the sender's cached route must
    not send on it (that raised in the mix, for everyone)."""

    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(dan.recent(0.5), 440))
        participant = worker.room.participants["dan"]
        sink = participant.sink
        assert isinstance(sink, FastSender) and sink.push(b"\xf8\xff\xfe", 960)  # (the fast path)
        for transceiver in participant.pc.getTransceivers():
            for protocol in transceiver.sender.transport.transport._connection._protocols:
                protocol.transport.abort()  # the worker's own socket for dan, closed under the sender
        await until(lambda: "dan" not in worker.room.participants, message="dan's connection is gone")
        assert sink.push(b"\xf8\xff\xfe", 1920) is False
        await ada.close()
        await dan.close()

    run_with_worker(scenario, send_path="fast")


def test_on_the_batch_path_a_listener_whose_socket_closed_loses_its_slot_and_the_others_keep_theirs():
    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        _, _, eve = await offer(session, url, token("eve", "listener"))
        fanout = worker.room.listeners.fanout
        await until(lambda: hears(dan.recent(0.5), 440) and hears(eve.recent(0.5), 440))
        assert len(fanout) == 2
        participant = worker.room.participants["dan"]
        for transceiver in participant.pc.getTransceivers():
            for protocol in transceiver.sender.transport.transport._connection._protocols:
                protocol.transport.abort()
        await until(lambda: "dan" not in worker.room.participants, message="dan's connection is gone")
        assert len(fanout) == 1 and len(worker.room.listeners) == 1
        eve_sink = worker.room.participants["eve"].sink
        sent = eve_sink.counts()[0]
        await until(lambda: eve_sink.counts()[0] > sent + 25 and hears(eve.recent(0.5), 440))
        for peer in (ada, dan, eve):
            await peer.close()

    run_with_worker(scenario, send_path="batch")
