"""One DTLS identity per worker process: every listener is answered with the same
certificate, and every connection's OpenSSL context is the same object."""

from __future__ import annotations

import re

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from OpenSSL import SSL

from media_worker import dtls
from tests.media_worker.peers import hears, offer, until
from tests.media_worker.worker_support import run_with_worker, token

_FINGERPRINT = re.compile(r"^a=fingerprint:sha-256 (\S+)", re.MULTILINE)


def test_the_internals_it_uses_are_there():
    pc = RTCPeerConnection()
    assert isinstance(getattr(pc, dtls._CERTIFICATES), list)
    assert callable(RTCCertificate._create_ssl_context)
    import inspect

    source = inspect.getsource(RTCDtlsTransport.start)
    assert "self.__local_certificate._create_ssl_context(" in source


def test_every_listener_gets_the_processs_one_certificate_and_context_and_hears_the_room():
    async def scenario(url, worker, session):
        _, ada_answer, ada = await offer(session, url, token("ada", "host"), tone=440)
        answers, listeners = [], []
        for name in ("dan", "eve", "fay"):
            _, answer, peer = await offer(session, url, token(name, "listener"))
            answers.append(answer)
            listeners.append(peer)
        fingerprints = {_FINGERPRINT.search(a["sdp"]).group(1) for a in [ada_answer, *answers]}
        assert len(fingerprints) == 1  # the worker's one identity
        for peer in listeners:
            await until(lambda peer=peer: hears(peer.recent(0.5), 440))
        contexts = {id(t.sender.transport._ssl.get_context()) for p in worker.room.participants.values()
                    for t in p.pc.getTransceivers()}
        assert len(contexts) == 1
        for peer in [ada, *listeners]:
            await peer.close()

    run_with_worker(scenario)


def test_a_clients_own_certificate_keeps_its_own_context():
    dtls.share_contexts()
    ours, theirs = dtls.process_certificate(), RTCCertificate.generateCertificate()
    from aiortc.rtcdtlstransport import SRTP_PROFILES

    assert ours._create_ssl_context(SRTP_PROFILES) is ours._create_ssl_context(SRTP_PROFILES)
    assert theirs._create_ssl_context(SRTP_PROFILES) is not ours._create_ssl_context(SRTP_PROFILES)
    # (pyOpenSSL reads a context's mode only by setting it, and only before its first connection)
    assert theirs._create_ssl_context(SRTP_PROFILES).set_mode(0) & SSL.MODE_RELEASE_BUFFERS  # idle buffers freed
