"""The one place the worker relies on aiortc/aioice internals. If an upgrade moves them,
these tests fail before a room does."""

from __future__ import annotations

import asyncio

import aioice.ice
from aiortc import RTCPeerConnection

from media_worker import ice


def test_candidates_are_gathered_only_on_the_bind_address():
    ice.gather_only_on("127.0.0.1")

    async def gather() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    sdp = asyncio.run(gather())
    hosts = [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:") and " typ host" in line]
    assert hosts and set(hosts) == {"127.0.0.1"}
    assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]


def test_the_answer_announces_the_public_host():
    sdp = ("v=0\r\na=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
           "a=candidate:2 1 udp 2130706431 172.17.0.2 40001 typ host\r\n")
    announced = ice.announce(sdp, "10.0.0.5", "203.0.113.7")
    assert "203.0.113.7 40000 typ host" in announced
    assert "172.17.0.2 40001 typ host" in announced  # other addresses untouched
    assert ice.announce(sdp, "10.0.0.5", "10.0.0.5") == sdp
    everywhere = ice.announce(sdp, "0.0.0.0", "203.0.113.7")  # bound to all addresses (a container)
    assert "10.0.0.5" not in everywhere and "172.17.0.2" not in everywhere and everywhere.count("203.0.113.7") == 2


def test_an_offers_mdns_candidates_are_dropped_and_the_rest_kept():
    candidates = ("a=candidate:1 1 udp 2122260223 0d4f1f3e-6a7b-4c2d-9e8f-0123456789ab.local 54321 typ host generation 0\r\n"
                  "a=candidate:2 1 udp 1686052607 198.51.100.9 54321 typ srflx raddr 0.0.0.0 rport 0 generation 0\r\n"
                  "a=candidate:3 1 tcp 1518280447 4e1c4b0a-1111-2222-3333-444455556666.local 9 typ host tcptype active\r\n")
    offer = f"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n{candidates}a=end-of-candidates\r\na=rtcp-mux\r\n"
    kept = ice.without_mdns_candidates(offer)
    assert ".local" not in kept and "198.51.100.9 54321 typ srflx" in kept and "a=rtcp-mux\r\n" in kept
    # The browser's own address now only arrives with its checks (peer-reflexive): not the end.
    assert "a=end-of-candidates" not in kept
    plain = offer.replace(candidates, "a=candidate:1 1 udp 2122260223 192.0.2.4 54321 typ host\r\n")
    assert ice.without_mdns_candidates(plain) == plain  # nothing hidden: untouched, ending included


def test_the_internals_the_shared_socket_uses_are_there():
    """media_worker.ice replaces aioice's host gathering (one socket per connection) with the
    mux's; media_worker.udpmux drives aioice's StunProtocol; media_worker.rtcp and fastpath
    read listeners' RTCP with aiortc's inbound SRTP session and hand feedback back to it."""
    import inspect

    from aiortc.rtcdtlstransport import RTCDtlsTransport

    source = inspect.getsource(ice._own_sockets)
    assert "create_datagram_endpoint(\n                    lambda: StunProtocol(self), local_addr=(address, 0)" in source
    assert "server_reflexive_candidate(protocol, self.stun_server)" in source  # ours asks the same way
    assert "for protocol in host_protocols:" in source  # no host address given: TURN alone
    assert list(inspect.signature(ice._own_sockets).parameters) == ["self", "component", "addresses", "timeout"]
    assert list(inspect.signature(aioice.ice.server_reflexive_candidate).parameters) == ["protocol", "stun_server"]
    protocol_source = inspect.getsource(aioice.ice.StunProtocol)
    assert "def datagram_received(self, data" in protocol_source and "self.transport.sendto(" in protocol_source
    assert "self.receiver.protocol_lost(self)" in inspect.getsource(aioice.ice.StunProtocol.connection_lost)
    connection = aioice.ice.Connection(ice_controlling=False)
    assert connection._local_username == connection.local_username and isinstance(connection._protocols, list)
    assert connection.stun_server is None and connection.turn_server is None
    assert "_valid_username" in inspect.getsource(aioice.ice.Connection.request_received)
    dtls_source = inspect.getsource(RTCDtlsTransport)
    assert "self._rx_srtp.unprotect_rtcp(data)\n                    await self._handle_rtcp_data(data)" in dtls_source


def test_server_reflexive_candidates_are_asked_for_on_the_mux():
    """With a STUN server (config stun_url) the host protocol on the shared socket asks it; its
    answer comes back on the mux, routed by transaction id."""
    from media_worker.udpmux import UdpMux

    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        mux = await UdpMux.open("127.0.0.1")

        class StunServer(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                request = aioice.stun.parse_message(data)
                response = aioice.stun.Message(message_method=request.message_method,
                                               message_class=aioice.stun.Class.RESPONSE,
                                               transaction_id=request.transaction_id)
                response.attributes["XOR-MAPPED-ADDRESS"] = ("198.51.100.7", addr[1])
                self.transport.sendto(bytes(response), addr)

        server, _ = await loop.create_datagram_endpoint(StunServer, local_addr=("127.0.0.1", 0))
        ice.install_mux()
        connection = aioice.ice.Connection(ice_controlling=False, stun_server=server.get_extra_info("sockname"))
        with ice.gathering_on(mux):
            await connection.gather_candidates()
        candidates = [(c.type, c.host, c.port) for c in connection.local_candidates]
        await connection.close()
        server.close()
        mux.close()
        return [candidates, mux.port]

    candidates, port = asyncio.run(scenario())
    assert ("host", "127.0.0.1", port) in candidates and ("srflx", "198.51.100.7", port) in candidates
