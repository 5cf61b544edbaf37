"""One UDP socket for every peer's ICE (media_worker.udpmux, installed by media_worker.ice):
routing by remote address and by STUN USERNAME, with real aioice connections on real
sockets, and a worker whose peers all share its port."""

from __future__ import annotations

import asyncio
import os
import socket

import aioice.stun
from aioice import Connection

from media_worker import ice
from media_worker.udpmux import UdpMux
from tests.media_worker.peers import hears, offer, until
from tests.media_worker.worker_support import run_with_worker, token


async def pair(mux: UdpMux) -> tuple[Connection, Connection]:
    """A worker-side connection gathered on the mux and a client with a socket of its own,
    connected (the client controlling, as a browser offering is)."""
    ice.install_mux()
    server, client = Connection(ice_controlling=False), Connection(ice_controlling=True)
    with ice.gathering_on(mux):
        await server.gather_candidates()
    await client.gather_candidates()
    for a, b in ((server, client), (client, server)):
        for candidate in b.local_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
        a.remote_username, a.remote_password = b.local_username, b.local_password
    await asyncio.gather(server.connect(), client.connect())
    return server, client


def client_address(client: Connection) -> tuple[str, int]:
    return client._nominated[1].protocol.transport.get_extra_info("sockname")[:2]


def stranger() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def answer_to(sock: socket.socket, timeout: float) -> bytes | None:
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1500), timeout)
    except TimeoutError:
        return None


def test_peers_from_one_ip_on_two_ports_each_reach_their_own_connection_and_strangers_reach_none():
    async def scenario() -> None:
        mux = await UdpMux.open("127.0.0.1")
        (s1, c1), (s2, c2) = await pair(mux), await pair(mux)
        assert {c.port for c in s1.local_candidates + s2.local_candidates} == {mux.port}
        a1, a2 = client_address(c1), client_address(c2)
        assert a1[0] == a2[0] and a1[1] != a2[1]
        assert mux.route_of(a1) is s1._nominated[1].protocol and mux.route_of(a2) is s2._nominated[1].protocol
        await c1.send(b"one")
        await c2.send(b"two")
        assert await asyncio.wait_for(s1.recv(), 2) == b"one"
        assert await asyncio.wait_for(s2.recv(), 2) == b"two"
        await s1.send(b"back")
        assert await asyncio.wait_for(c1.recv(), 2) == b"back"

        # A stranger's datagram (not STUN, from an address nobody owns): dropped, counted.
        dropped = mux.dropped
        with stranger() as sock:
            sock.sendto(b"\x80\x6f" + bytes(30), ("127.0.0.1", mux.port))
            await until(lambda: mux.dropped == dropped + 1, 2)
            # A check naming a ufrag nobody holds: routed nowhere, so never answered.
            request = aioice.stun.Message(message_method=aioice.stun.Method.BINDING,
                                          message_class=aioice.stun.Class.REQUEST)
            request.attributes["USERNAME"] = "nobody:" + c1.local_username
            request.add_message_integrity(s1.local_password.encode())
            sock.sendto(bytes(request), ("127.0.0.1", mux.port))
            await until(lambda: mux.dropped == dropped + 2, 2)
            assert await answer_to(sock, 0.5) is None
            # The same check naming a connection's ufrag is answered (the ufrag routes it).
            request = aioice.stun.Message(message_method=aioice.stun.Method.BINDING,
                                          message_class=aioice.stun.Class.REQUEST)
            request.attributes["USERNAME"] = f"{s1.local_username}:{c1.local_username}"
            request.add_message_integrity(s1.local_password.encode())
            sock.sendto(bytes(request), ("127.0.0.1", mux.port))
            answer = aioice.stun.parse_message(await answer_to(sock, 2) or b"")
            assert answer.message_class == aioice.stun.Class.RESPONSE
            assert answer.attributes["XOR-MAPPED-ADDRESS"] == sock.getsockname()
        assert s1._queue.empty() and s2._queue.empty(), "no stranger's datagram reached a connection"

        # A closed connection's route goes with it; its peer's later datagrams are dropped;
        # the other peer is unaffected.
        await s1.close()
        assert mux.route_of(a1) is None and mux.route_of(a2) is not None
        dropped = mux.dropped
        await c1.send(b"late")
        await until(lambda: mux.dropped == dropped + 1, 2)
        await c2.send(b"still")
        assert await asyncio.wait_for(s2.recv(), 2) == b"still"
        for connection in (c1, s2, c2):
            await connection.close()
        assert mux.routes == 0 and mux.connections == 0
        mux.close()

    asyncio.run(scenario())


def test_the_first_authenticated_owner_of_an_address_keeps_it_and_a_hook_comes_first():
    async def scenario() -> None:
        mux = await UdpMux.open("127.0.0.1")
        s1, c1 = await pair(mux)
        address = client_address(c1)
        # Another connection authenticating a check from the same address and port (two
        # peers behind one client socket): it answers, but the route stays the first's.
        intruder = Connection(ice_controlling=False)
        with ice.gathering_on(mux):
            await intruder.gather_candidates()
        response = aioice.stun.Message(message_method=aioice.stun.Method.BINDING,
                                       message_class=aioice.stun.Class.RESPONSE)
        intruder._protocols[0].send_stun(response, address)
        assert mux.route_of(address) is s1._nominated[1].protocol

        seen: list[bytes] = []
        mux.intercept(address, lambda data: seen.append(data) or data.startswith(b"hook"))
        await c1.send(b"hook me")
        await c1.send(b"not me")
        assert await asyncio.wait_for(s1.recv(), 2) == b"not me"
        assert seen == [b"hook me", b"not me"]
        await s1.close()  # the hook goes with the route
        await intruder.close()
        dropped = mux.dropped
        await c1.send(b"hook again")
        await until(lambda: mux.dropped == dropped + 1, 2)
        assert len(seen) == 2
        await c1.close()
        mux.close()

    asyncio.run(scenario())


def test_a_peer_whose_checks_stop_loses_consent_on_the_mux():
    async def scenario() -> None:
        ice.set_consent_timeout(1.5)
        mux = await UdpMux.open("127.0.0.1")
        server, client = await pair(mux)
        address = client_address(client)
        client._nominated[1].protocol.transport.pause_reading()  # it answers nothing from now on
        await until(lambda: mux.route_of(address) is None, 10, "consent expired: its route is gone")
        await client.close()
        await server.close()
        mux.close()

    try:
        asyncio.run(scenario())
    finally:
        ice.set_consent_timeout(30)


def udp_sockets() -> int:
    """This process's UDP sockets, from /proc/self/fd (no ss)."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(name))) as sock:
                count += sock.type == socket.SOCK_DGRAM
        except OSError:
            continue
    return count


def test_twenty_listeners_and_a_speaker_share_the_workers_one_port_and_all_hear_the_tone():
    async def scenario(url, worker, session):
        before = udp_sockets()
        answers, peers = [], []
        status, answer, ada = await offer(session, url, token("ada", "host"), tone=440)
        answers.append(answer)
        for i in range(20):
            status, answer, peer = await offer(session, url, token(f"listener{i}", "listener"))
            assert status == 200
            answers.append(answer)
            peers.append(peer)
        ports = {line.split()[5] for a in answers for line in a["sdp"].splitlines()
                 if line.startswith("a=candidate:") and " typ host" in line}
        assert ports == {str(worker.mux.port)}
        for peer in peers:
            await until(lambda peer=peer: hears(peer.recent(0.6), 440), 30, "every listener hears the speaker")
        # 21 clients, one socket each; the worker's side added none (its one was open before).
        assert udp_sockets() - before == 21
        assert worker.mux.connections == 21 and worker.mux.routes == 21
        await asyncio.gather(*(p.close() for p in [ada, *peers]))

    run_with_worker(scenario)


def drop_every_tenth_rtp(peer) -> None:
    """The listener's network loses every 10th RTP datagram before its aiortc sees it."""
    ice_transport = peer.pc.getTransceivers()[0].receiver.transport.transport
    recv, seen = ice_transport._recv, [0]

    async def lossy() -> bytes:
        while True:
            data = await recv()
            if data and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223:
                seen[0] += 1
                if seen[0] % 10 == 0:
                    continue
            return data

    ice_transport._recv = lossy


def test_a_listeners_receiver_reports_give_its_loss_in_metrics():
    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        _, _, eve = await offer(session, url, token("eve", "listener"))
        drop_every_tenth_rtp(dan)

        async def loss() -> dict:
            async with session.get(f"{url}/metrics") as resp:
                return (await resp.json())["listeners_loss"]

        for _ in range(100):
            report = await loss()
            if report["by_user"].get("dan", {}).get("packets_lost", 0) >= 10 and "eve" in report["by_user"]:
                break
            await asyncio.sleep(0.1)
        dan_loss, eve_loss = report["by_user"]["dan"], report["by_user"]["eve"]
        assert dan_loss["packets_lost"] >= 10 and 0.05 <= dan_loss["fraction_lost"] <= 0.15, dan_loss
        assert eve_loss["packets_lost"] == 0 and eve_loss["fraction_lost"] == 0, eve_loss
        assert report["reporting"] >= 2 and report["packets_lost"] >= dan_loss["packets_lost"]
        assert report["worst_fraction_lost"] == dan_loss["fraction_lost"]
        assert worker.room.participants["dan"].sink.reports.reports > 0  # read off the mux, not by aiortc
        await asyncio.gather(ada.close(), dan.close(), eve.close())

    run_with_worker(scenario)


def test_a_listener_that_offers_again_is_heard_on_its_new_connection():
    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, first = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(first.recent(0.6), 440), 15)
        _, _, second = await offer(session, url, token("dan", "listener"))
        await until(lambda: hears(second.recent(0.6), 440), 15, "the new connection hears the speaker")
        await until(lambda: worker.mux.connections == 2, 5, "the first connection's place on the mux is freed")
        await asyncio.gather(ada.close(), first.close(), second.close())

    run_with_worker(scenario)
