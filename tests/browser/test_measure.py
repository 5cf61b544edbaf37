"""The measuring harness itself (measure.js), on tiny local pages and no Parlor: a page that
plays a WAV through an <audio>, and two RTCPeerConnections in one page sending the fake
microphone to each other. What the scenarios conclude from a tone rests on these."""

from __future__ import annotations

import pytest

from tests.browser import harness
from tests.browser.conftest import record

LOOPBACK_PAGE = """<!doctype html><meta charset="utf-8"><title>loopback</title>
<script>
window.capture = async () => {
  window.mic = await navigator.mediaDevices.getUserMedia(
    {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
};
window.connect = async () => {
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  b.ontrack = e => { const el = new Audio(); el.srcObject = e.streams[0]; el.play(); };
  window.mic.getTracks().forEach(t => a.addTrack(t, window.mic));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  window.peers = [a, b];
};
window.hangUp = () => window.peers.forEach(p => p.close());
</script>"""


@pytest.fixture
def site(static_site, tones):
    base, folder = static_site
    for freq in (440, 660):
        target = folder / f"tone-{freq}.wav"
        if not target.exists():
            target.write_bytes(tones(freq).read_bytes())
    (folder / "play.html").write_text('<!doctype html><audio id="a" src="tone-440.wav" loop></audio>')
    (folder / "autoplay.html").write_text('<!doctype html><audio src="tone-660.wav" autoplay loop></audio>')
    (folder / "loopback.html").write_text(LOOPBACK_PAGE)
    return base


@pytest.fixture
def page(browsers):
    context = harness.new_context(browsers(440))
    yield context.new_page()
    context.close()


def test_an_audio_element_is_measured_from_play_to_pause(site, page):
    page.goto(f"{site}/play.html")
    assert harness.tone(page, 440) == 0  # nothing plays yet

    page.evaluate("document.getElementById('a').play()")
    assert harness.hears(page, 440, timeout=5, threshold=0.8) >= 0.8
    assert harness.tone(page, 660) < 0.01
    # The WAV's sine of amplitude 0.5 is -9 dBFS RMS.
    harness.eventually(lambda: page.evaluate("window.__parlorLevel()"), lambda db: -10 < db < -8, 3, "the level")

    page.evaluate("document.getElementById('a').pause()")
    harness.goes_quiet(page, 440, timeout=5)


def test_an_autoplaying_element_is_measured_too(site, page):
    page.goto(f"{site}/autoplay.html")
    harness.hears(page, 660, timeout=5, threshold=0.8)
    assert harness.tone(page, 440) < 0.01


def test_received_webrtc_audio_is_measured_and_the_microphone_is_not(site, page):
    page.goto(f"{site}/loopback.html")
    page.evaluate("capture()")
    page.wait_for_timeout(500)
    assert harness.tone(page, 440) == 0  # the page's own microphone is not what it receives

    page.evaluate("connect()")
    strength = harness.hears(page, 440, timeout=5, threshold=0.8)
    assert harness.tone(page, 660) < 0.01
    page.wait_for_timeout(1000)
    figures = harness.stats(page)
    inbound = [s for peer in figures["peers"] for s in peer["inbound"]]
    assert len(inbound) == 1 and inbound[0]["packetsReceived"] > 0, figures
    timing = figures["timing"]
    assert timing["offerAt"] <= timing["answerAt"] <= timing["firstAudioAt"], timing
    first_audio_ms = timing["firstAudioAt"] - timing["offerAt"]
    assert first_audio_ms < 3000
    record(f"harness loopback: 440 Hz share {strength:.2f}, offer -> first audio {first_audio_ms:.0f} ms, "
           f"packets {inbound[0]['packetsReceived']}, jitter buffer {inbound[0]['jitterBufferMs']:.0f} ms")

    page.evaluate("hangUp()")
    harness.goes_quiet(page, 440, timeout=5)
    assert harness.stats(page)["peers"] == []  # closed connections are left out
