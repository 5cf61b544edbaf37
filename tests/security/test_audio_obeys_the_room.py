"""Audio obeys the room, attacked from outside: over the local stack as real processes, with
real aiortc peers and real audio, a speaker the host bans, removes, demotes or mutes offers
again with everything the API handed them before (the held credentials), and the room must
not hear them. A listener measures the speaker's tone (660 Hz) against the host's (440 Hz).

Each scenario offers the way join tells the client to: through the API (``media.offer_url``,
the session token) — or, on the old contract, straight at the worker with the media token
join handed out, which is how these attacks got back on stage."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from media_worker import ice
from tests.e2e.http import Http, join, live_space, worker_record
from tests.media_worker.peers import Peer, hears, offer, offer_at, silent_at, until

HOST_TONE, SPEAKER_TONE = 440, 660


async def offer_as_joined(session: aiohttp.ClientSession, person: dict, joined: dict, **kw: Any) -> tuple[int, dict, Peer]:
    """Offer with what ``joined`` (a join's answer, perhaps an old one) gave this client."""
    media = joined["media"]
    if "offer_url" in media:
        return await offer_at(session, media["offer_url"], person["token"], **kw)
    return await offer(session, media["url"], media["token"], **kw)  # the old contract


def on_stage(http: Http, title: str, handles: tuple[str, str, str]) -> tuple[str, dict, dict, dict, dict]:
    """A live space: its host, a speaker the host invited up, a listener; and the speaker's
    join answer as a speaker (``held``: what an attacker keeps)."""
    space_id, (host, speaker, listener) = live_space(http, title, handles)
    for person in (host, speaker, listener):
        join(http, space_id, person)
    status, body = http.call("PUT", f"/v1/spaces/{space_id}/participants/{speaker['id']}", {"role": "speaker"},
                             token=host["token"])
    assert status == 200, body
    held = join(http, space_id, speaker)
    assert held["participant"]["role"] == "speaker"
    return space_id, host, speaker, listener, held


def run_room(http: Http, space_id: str, host: dict, speaker: dict, listener: dict, held: dict,
             attack: Callable[[aiohttp.ClientSession, Peer], Awaitable[None]]) -> None:
    """The host and the speaker talk, the listener hears both; then ``attack`` runs (it may
    open peers of its own and close them)."""
    async def scenario() -> None:
        ice.gather_only_on("127.0.0.1")
        peers: list[Peer] = []
        async with aiohttp.ClientSession() as session:
            try:
                for person, tone in ((host, HOST_TONE), (speaker, SPEAKER_TONE), (listener, None)):
                    status, body, peer = await offer_as_joined(session, person, held if person is speaker else
                                                               join(http, space_id, person), tone=tone)
                    assert status == 200, body
                    peers.append(peer)
                ear = peers[-1]
                await until(lambda: hears(ear.recent(1.0), HOST_TONE) and hears(ear.recent(1.0), SPEAKER_TONE),
                            timeout=15, message="the listener never heard both")
                await attack(session, ear)
            finally:
                for peer in peers:
                    await peer.close()

    asyncio.run(scenario())


async def speaker_not_heard(ear: Peer, seconds: float = 2.0) -> None:
    """Over audio that really arrived, the host is heard and the speaker is not."""
    heard = await ear.next_audio(seconds)
    assert hears(heard, HOST_TONE), "the room is still on"
    assert silent_at(heard, SPEAKER_TONE), "the speaker is heard"


def offer_held_after(decide: Callable[[], int], speaker: dict, held: dict, admitted: tuple[int, ...],
                     then: Callable[[Peer], Awaitable[None]] | None = None) -> Callable[[aiohttp.ClientSession, Peer],
                                                                                  Awaitable[None]]:
    """The attack: the host ``decide``s against the speaker (the open connection goes quiet),
    then the speaker offers again with what they held; it is answered one of ``admitted``
    and, whatever happens next (``then``), the room does not hear them."""
    async def attack(session: aiohttp.ClientSession, ear: Peer) -> None:
        assert decide() == 200
        await until(lambda: silent_at(ear.recent(0.6), SPEAKER_TONE), timeout=5, message="the open connection still heard")
        status, body, again = await offer_as_joined(session, speaker, held, tone=SPEAKER_TONE)
        try:
            assert status in admitted, body
            if then is not None:
                await then(again)
            await speaker_not_heard(ear)
        finally:
            await again.close()

    return attack


@pytest.mark.parametrize("ban", [True, False], ids=["banned", "removed"])
def test_a_speaker_taken_out_of_the_room_who_offers_again_is_not_heard(stack, ban):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    tag = "ban" if ban else "rm"
    space_id, host, speaker, listener, held = on_stage(http, "Out", (f"{tag}_host", f"{tag}_speaker", f"{tag}_ear"))
    path = f"/v1/spaces/{space_id}/participants/{speaker['id']}" + ("?ban=true" if ban else "")
    take_out = offer_held_after(lambda: http.call("DELETE", path, token=host["token"])[0], speaker, held,
                                admitted=(403, 409))  # banned / not in the space: the API admits them no more
    run_room(http, space_id, host, speaker, listener, held, take_out)
    http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])


def test_a_demoted_speaker_who_offers_again_listens_and_is_not_heard(stack):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    space_id, host, speaker, listener, held = on_stage(http, "Demoted", ("dm_host", "dm_speaker", "dm_ear"))

    async def listens(again: Peer) -> None:
        await until(lambda: hears(again.recent(1.0), HOST_TONE), timeout=10, message="the demoted one hears the room")

    demote = offer_held_after(lambda: http.call("PUT", f"/v1/spaces/{space_id}/participants/{speaker['id']}",
                                                {"role": "listener"}, token=host["token"])[0],
                              speaker, held, admitted=(200,), then=listens)  # still in the room: they may listen
    run_room(http, space_id, host, speaker, listener, held, demote)
    http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])


def test_a_host_mute_holds_on_a_new_worker_after_the_old_one_is_killed(stack):
    """The speaker is muted, the worker dies, the room moves to a new one: the speaker, offering
    there with what they held from before the mute, stays silent."""
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    space_id, host, speaker, listener, held = on_stage(http, "Muted", ("mu_host", "mu_speaker", "mu_ear"))

    async def attack(session: aiohttp.ClientSession, ear: Peer) -> None:
        status, _ = http.call("POST", f"/v1/spaces/{space_id}/participants/{speaker['id']}/mute", token=host["token"])
        assert status == 200
        await until(lambda: silent_at(ear.recent(0.6), SPEAKER_TONE), timeout=5, message="the mute did not reach the audio")
        killed = worker_record(stack, space_id)["handle"]["S"]
        os.kill(int(killed), signal.SIGKILL)

        def replaced() -> bool:
            record = worker_record(stack, space_id)
            handle = record.get("handle", {}).get("S")  # none yet while the replacement is launched
            return handle not in (None, killed) and record["state"]["S"] == "ready"

        await until(replaced, timeout=30, message="the space got no new worker")
        loop = asyncio.get_running_loop()
        rejoined = {p["id"]: await loop.run_in_executor(None, join, http, space_id, p, 40) for p in (host, speaker, listener)}
        # The speaker re-offers to the new worker with the credentials held from before the mute.
        stale = {**rejoined[speaker["id"]], "media": {**rejoined[speaker["id"]]["media"],
                                                      **{k: v for k, v in held["media"].items() if k == "token"}}}
        new_peers = []
        try:
            for person, joined, tone in ((host, rejoined[host["id"]], HOST_TONE), (speaker, stale, SPEAKER_TONE),
                                         (listener, rejoined[listener["id"]], None)):
                status, body, peer = await offer_as_joined(session, person, joined, tone=tone)
                assert status == 200, body
                new_peers.append(peer)
            new_ear = new_peers[-1]
            await until(lambda: hears(new_ear.recent(1.0), HOST_TONE), timeout=15, message="the new worker carries the room")
            await speaker_not_heard(new_ear)
        finally:
            for peer in new_peers:
                await peer.close()

    run_room(http, space_id, host, speaker, listener, held, attack)
    http.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])
