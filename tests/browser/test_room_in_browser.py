"""A live room in real Chromium pages, through the web client only (WEB-CONTRACT.md selectors):
what each page hears is measured on the audio it receives (measure.js), each person's fake
microphone playing its own tone."""

from __future__ import annotations

import math
import re
import time

from playwright.sync_api import expect

from tests.browser import harness
from tests.browser.conftest import record, user_id_in

HOST_VOICE, SPEAKER_VOICE = 440, 660
PHONE = 390


def test_host_speaks_listener_hears_is_invited_up_and_is_heard_and_the_overflow_listens_through_hls(people, api):
    host = people("host", voice=HOST_VOICE)
    host.sign_up()
    space_id = host.create_space("Tones in the browser")
    expect(host.by("space-state")).to_have_text(re.compile("live", re.I))
    host.join()
    host.unmute()
    host_id = user_id_in(host.by("host-link").get_attribute("href") or "")

    # The listener (whose microphone plays 660 Hz, unheard until they are on stage) follows the
    # host, finds the live space in the feed and joins it.
    fan = people("fan", voice=SPEAKER_VOICE, width=PHONE)
    fan.sign_up()
    fan.go(f"#/users/{host_id}")
    fan.by("follow").click()
    expect(fan.by("unfollow")).to_be_visible()
    fan.by("nav-feed").click()
    card = fan.page.locator(f'[data-testid="space-card"][data-space-id="{space_id}"]')
    harness.eventually(lambda: _shown_after_reload(fan.page, card), bool, 20, "the live space is in the listener's feed", every=1)
    expect(card).to_have_attribute("data-state", "live")
    fan.screenshot("feed.png")
    card.get_by_role("link").first.click()
    fan.page.wait_for_url(re.compile(rf".*#/spaces/{space_id}"))
    fan.join()
    expect(fan.by("audio-state")).to_have_text("playing", timeout=20_000)
    strength = harness.hears(fan.page, HOST_VOICE, timeout=10)
    assert fan.tone(SPEAKER_VOICE) < 0.05  # the listener's own microphone is not sent, nor heard back
    assert host.tone(HOST_VOICE) < 0.05  # the host does not hear themself
    fan_id = api.sign_in(fan.handle)["id"]
    expect(host.participant(fan_id)).to_have_attribute("data-role", "listener")
    expect(fan.by("raise-hand")).to_be_visible()
    expect(fan.by("mic-toggle")).to_be_hidden()  # a listener has no microphone
    fan.page.wait_for_timeout(2000)  # a few seconds of audio for the jitter figures
    figures = fan.stats()
    _record_listener_figures("WebRTC listener", strength, figures)
    # A listen-only page hides its addresses behind mDNS names; the worker no longer waits ~1 s
    # trying to resolve them (media_worker/ice.py): a listener hears the room well under a second.
    assert figures["timing"]["firstAudioAt"] - figures["timing"]["offerAt"] < 1000
    # The fast path's RTCP sender reports count what it sent, so the browser has the figures.
    (inbound,) = [s for peer in figures["peers"] for s in peer["inbound"]]
    (outbound,) = [s for peer in figures["peers"] for s in peer["remoteOutbound"]]
    assert 0 < outbound["packetsSent"] <= inbound["packetsReceived"] + 5 and outbound["bytesSent"] > 0, outbound
    assert math.isfinite(outbound["remoteTimestamp"]) and outbound["remoteTimestamp"] > 0, outbound
    fan.screenshot("room-listener.png")

    # Past the WebRTC cap (1 listener in this stack) a third person listens through HLS.
    crowd = people("crowd", voice=HOST_VOICE)
    crowd.sign_up()
    crowd.open_space(space_id)
    crowd.join(transport="hls")
    started = time.monotonic()
    harness.hears(crowd.page, HOST_VOICE, timeout=20)
    hls_after = time.monotonic() - started
    assert crowd.tone(SPEAKER_VOICE) < 0.05
    crowd.page.wait_for_timeout(1000)
    record(f"HLS listener: hears {HOST_VOICE} Hz {hls_after:.1f} s after joining (transport shown); "
           f"share a second later {crowd.tone(HOST_VOICE):.2f}")

    # The listener raises a hand; the host approves it in the UI; the listener's page goes on
    # stage and the host hears the listener's 660 Hz.
    assert host.tone(SPEAKER_VOICE) < 0.05  # nobody speaks 660 yet
    fan.by("raise-hand").click()
    expect(fan.by("lower-hand")).to_be_visible()
    request = host.by("speak-requests").locator(f'[data-testid="speak-request"][data-user-id="{fan_id}"]')
    expect(request).to_be_visible(timeout=15_000)
    request.get_by_test_id("approve").click()
    expect(fan.participant(fan_id)).to_have_attribute("data-role", "speaker", timeout=15_000)
    expect(fan.by("stage").locator(f'[data-testid="participant"][data-user-id="{fan_id}"]')).to_be_visible()
    fan.unmute()
    expect(fan.by("transport")).to_have_text("webrtc", timeout=20_000)
    harness.hears(host.page, SPEAKER_VOICE, timeout=15)
    assert fan.tone(SPEAKER_VOICE) < 0.05  # a speaker does not hear themself back
    harness.hears(fan.page, HOST_VOICE, timeout=10)  # and still hears the host
    expect(host.participant(fan_id)).to_have_attribute("data-speaking", "true", timeout=10_000)
    timing = fan.stats()["timing"]
    record(f"host hears the new speaker: {SPEAKER_VOICE} Hz share {host.tone(SPEAKER_VOICE):.2f} "
           f"(own {HOST_VOICE} Hz: {host.tone(HOST_VOICE):.2f}); "
           f"speaker's page re-joined: offer -> first audio {timing['firstAudioAt'] - timing['offerAt']:.0f} ms")
    host.screenshot("room-host.png")

    host.by("end-space").click()
    expect(fan.by("room-closed")).to_have_attribute("data-reason", "ended", timeout=15_000)
    expect(crowd.by("room-closed")).to_have_attribute("data-reason", "ended", timeout=15_000)


def _shown_after_reload(page, locator) -> bool:
    if locator.count():
        return True
    page.reload()
    page.wait_for_timeout(500)
    return bool(locator.count())


def _record_listener_figures(who: str, strength: float, figures: dict) -> None:
    timing = figures["timing"]
    inbound = [s for peer in figures["peers"] for s in peer["inbound"]]
    outbound = [s for peer in figures["peers"] for s in peer["remoteOutbound"]]
    line = (f"{who}: tone share {strength:.2f}; offer -> answer {timing['answerAt'] - timing['offerAt']:.0f} ms, "
            f"offer -> first audio {timing['firstAudioAt'] - timing['offerAt']:.0f} ms")
    for s in inbound:
        jitter_buffer = f"{s['jitterBufferMs']:.0f} ms" if s["jitterBufferMs"] is not None else "n/a"
        line += (f"; inbound: {s['packetsReceived']} packets, {s['packetsLost']} lost, jitter {1000 * (s['jitter'] or 0):.1f} ms, "
                 f"jitter buffer {jitter_buffer}, concealed {s['concealedSamples']}/{s['totalSamplesReceived']} samples")
    line += f"; remote-outbound-rtp: {outbound or 'none (no RTCP sender reports)'}"
    record(line)
