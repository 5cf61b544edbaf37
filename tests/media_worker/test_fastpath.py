"""The fast fan-out path and the aiortc internals it relies on (this test fails first if an
aiortc/aioice upgrade moves them)."""

from __future__ import annotations

import asyncio
import inspect

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from media_worker.fastpath import FastSender, tune_jitter_buffers
from tests.media_worker.peers import hears, offer, silent_at
from tests.media_worker.test_worker import run_with_worker, token


def test_the_internals_the_fast_path_uses_are_there():
    async def probe() -> None:
        pc = RTCPeerConnection()
        sender = pc.addTransceiver("audio", direction="sendonly").sender
        assert isinstance(sender._ssrc, int)
        assert isinstance(sender.transport, RTCDtlsTransport)
        assert hasattr(sender.transport, "_tx_srtp")
        assert hasattr(sender.transport.transport, "_connection")
        assert isinstance(sender.transport.transport._connection._nominated, dict)
        receiver = pc.getTransceivers()[0].receiver
        assert receiver._RTCRtpReceiver__jitter_buffer._prefetch == 4  # aiortc's default, which we tune
        tune_jitter_buffers(pc, 1)
        assert receiver._RTCRtpReceiver__jitter_buffer._prefetch == 1
        await pc.close()

    asyncio.run(probe())
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in inspect.getsource(aioice.ice.Connection.sendto)
    assert "self._tx_srtp.protect(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
    assert RTCRtpSender.__init__ is not None


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "aiortc sender"])
def test_both_delivery_paths_carry_the_mix(fast_path):
    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        await asyncio.sleep(2.0)
        assert hears(dan.recent(0.8), 440) and silent_at(ada.recent(0.8), 440)
        sink = worker.room.participants["dan"].sink
        assert isinstance(sink, FastSender) == fast_path
        if fast_path:
            assert sink.sent > 50  # ~50 packets a second went out through the fast path
        await ada.close()
        await dan.close()

    run_with_worker(scenario, fast_path=fast_path)
