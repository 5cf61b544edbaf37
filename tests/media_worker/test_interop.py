"""What a browser (libwebrtc) does differently from an aiortc peer, reproduced with real aiortc
peers on loopback: host candidates hidden behind mDNS names, and RTCP sender reports read
for its stats."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from media_worker.server import Worker
from tests.media_worker.peers import RATE, behind_mdns, hears, offer, tap_rtcp, until
from tests.media_worker.worker_support import run_with_worker, token

# Offer → first decoded audio for a listener: ~0.1–0.2 s on loopback; ~1.1 s when the worker
# waited for mDNS names to resolve (they never do: only the browser's own link answers them).
FIRST_AUDIO_BOUND = 0.8


def chromium_listen_only(sdp: str) -> str:
    """A Chromium offer without microphone permission: host candidates behind mDNS names and
    no end-of-candidates (Chromium never sends it)."""
    return behind_mdns(sdp).replace("a=end-of-candidates\r\n", "")


def firefox_listen_only(sdp: str) -> str:
    """Firefox hides its host candidates too, but does end its candidates."""
    return behind_mdns(sdp)


async def first_audio_after_offer(url: str, worker: Worker, session: aiohttp.ClientSession, user: str,
                                  rewrite=None) -> tuple[float, object]:
    sent = []

    def keep(sdp: str) -> str:
        sent.append(rewrite(sdp) if rewrite is not None else sdp)
        return sent[-1]

    status, _, peer = await offer(session, url, token(user, "listener"), rewrite=keep)
    assert status == 200
    if rewrite is not None:
        assert ".local " in sent[0] and " 127.0.0.1 " not in sent[0], "the offer hides its addresses"
    await until(lambda: hears(peer.recent(0.5), 440), message=f"{user} hears the speaker")
    return peer.arrivals[0] - peer.offered_at, peer


@pytest.mark.parametrize("browser", [chromium_listen_only, firefox_listen_only], ids=["chromium", "firefox"])
def test_a_listener_behind_mdns_names_hears_the_speaker_as_fast_as_any(browser):
    """The worker can never resolve a browser's mDNS names (only the browser's own link
    answers them): it must not wait for them, and ICE completes through the peer-reflexive
    candidates the browser's checks create, even when the browser ended its candidates."""

    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        await until(lambda: worker.room.counters.frames_in > 5, message="the speaker's audio flows")
        plain, dan = await first_audio_after_offer(url, worker, session, "dan")
        hidden, eve = await first_audio_after_offer(url, worker, session, "eve", rewrite=browser)
        print(f"offer → first audio: plain listener {plain:.3f} s, behind mDNS {hidden:.3f} s")
        assert hidden < FIRST_AUDIO_BOUND, f"the mDNS listener waited {hidden:.2f} s for its first audio"
        for peer in (ada, dan, eve):
            await peer.close()

    run_with_worker(scenario)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "aiortc sender"])
def test_a_listener_gets_sender_reports_of_what_was_sent_to_it(fast_path):
    """Browsers build their remote-outbound-rtp stats (and lip-sync) from the sender reports:
    the counts must be what was sent, and the NTP and RTP timestamps must correspond."""

    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        _, _, dan = await offer(session, url, token("dan", "listener"))
        tap = tap_rtcp(dan)
        await until(lambda: len(tap.reports) >= 3 and tap.reports[-1].packets > 0, timeout=15,
                    message="sender reports with packets arrive")
        first, last = tap.reports[0], tap.reports[-1]
        ssrcs = {r.ssrc for r in tap.reports}
        assert len(ssrcs) == 1, f"one source reports: {ssrcs}"
        # Every report counts what had arrived when it did (loopback loses nothing; a packet
        # or two may still be in flight).
        for report in tap.reports[1:]:
            assert 0 <= (report.packets - first.packets) - (report.packets_received - first.packets_received) <= 2
            octets_sent, octets_received = report.octets - first.octets, report.octets_received - first.octets_received
            assert abs(octets_sent - octets_received) <= 2 * 200, (octets_sent, octets_received)
        assert last.packets - first.packets > 25 and last.octets > last.packets  # audio, not empty packets
        # NTP ↔ RTP: each report's mapping puts the packets of the second before it at the
        # times they arrived. A report is anchored on its last packet's sending, which a late
        # tick delays: peers and worker share one event loop here, on a busy shared machine.
        # So: the typical report within 60 ms, every one within 250 ms (a report at NTP 0, or
        # an RTP timestamp from another clock, is off by years or by minutes).
        offsets = []
        for report in tap.reports[1:]:
            recent = tap.rtp[max(0, report.packets_received - 50):report.packets_received]
            off = sorted(arrived - report.ntp_seconds - ((ts - report.rtp_timestamp + 2**31) % 2**32 - 2**31) / RATE
                         for ts, arrived in recent)
            offsets.append(off[len(off) // 2])
        assert max(map(abs, offsets)) < 0.25 and sorted(map(abs, offsets))[len(offsets) // 2] < 0.06, offsets
        stats = [s for s in (await dan.pc.getStats()).values() if s.type == "remote-outbound-rtp"]
        assert len(stats) == 1 and stats[0].packetsSent >= last.packets > 0 and stats[0].bytesSent > 0
        # The listener's receiver reports quote the last report back: the worker's round trip
        # (read off the shared socket by media_worker.rtcp on the fast path, by aiortc otherwise).
        for _ in range(60):
            if fast_path:
                rtt = [r] if (r := worker.room.participants["dan"].sink.reports.round_trip) is not None else []
            else:
                rtt = [s.roundTripTime for s in (await worker.room.participants["dan"].pc.getStats()).values()
                       if s.type == "remote-inbound-rtp" and s.roundTripTime is not None]
            if rtt:
                break
            await asyncio.sleep(0.1)
        assert rtt and 0 <= rtt[0] < 0.1, "the worker knows its round trip to the listener"
        outbound = [s for s in (await worker.room.participants["dan"].pc.getStats()).values() if s.type == "outbound-rtp"]
        assert len(outbound) == 1 and outbound[0].packetsSent >= first.packets > 0, "the worker's own stats count it"
        await ada.close()
        await dan.close()

    run_with_worker(scenario, send_path="fast" if fast_path else "naive")


def prefer_pcmu(sdp: str) -> str:
    """An offer that lists PCMU before Opus (a page that called setCodecPreferences, a SIP
    gateway): an answerer keeps the offer's order unless it has preferences of its own."""
    sdp = re.sub(r"^(m=audio \d+ \S+) (.*)$", lambda m: f"{m.group(1)} 0 " + " ".join(
        pt for pt in m.group(2).split() if pt != "0"), sdp, count=1, flags=re.MULTILINE)
    pcmu = "a=rtpmap:0 PCMU/8000\r\n"
    first = sdp.index("a=rtpmap:")
    return sdp[:first] + pcmu + sdp[first:].replace(pcmu, "", 1)


def without_opus(sdp: str) -> str:
    opus = re.search(r"^a=rtpmap:(\d+) opus/", sdp, re.MULTILINE | re.IGNORECASE).group(1)
    sdp = re.sub(rf"^a=(rtpmap|fmtp|rtcp-fb):{opus} .*\r\n", "", sdp, flags=re.MULTILINE)
    return re.sub(r"^(m=audio \d+ \S+) (.*)$", lambda m: m.group(1) + " " + " ".join(
        pt for pt in m.group(2).split() if pt != opus), sdp, count=1, flags=re.MULTILINE)


def test_the_answer_names_opus_alone_whatever_the_offer_preferred():
    """The mix is sent as the Opus packets it was encoded into: an answer naming another codec
    first would label them as that codec (noise in the listener's ear)."""

    async def scenario(url, worker, session):
        _, _, ada = await offer(session, url, token("ada", "host"), tone=440)
        status, answer, dan = await offer(session, url, token("dan", "listener"), rewrite=prefer_pcmu)
        assert status == 200
        codecs = re.findall(r"^a=rtpmap:\d+ ([^/\r\n]+)/", answer["sdp"], re.MULTILINE)
        assert codecs == ["opus"], codecs
        await until(lambda: hears(dan.recent(0.5), 440), message="the listener hears the speaker")
        status, body, eve = await offer(session, url, token("eve", "listener"), rewrite=without_opus)
        assert status == 400 and body["error"]["code"] == "bad_offer", body
        assert set(worker.room.participants) == {"ada", "dan"}
        for peer in (ada, dan, eve):
            await peer.close()

    run_with_worker(scenario)
