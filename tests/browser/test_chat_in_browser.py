"""Chat, a direct message and a removal, seen in each person's own page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import harness
from tests.browser.conftest import user_id_in


def test_chat_reaches_everyone_a_direct_message_only_its_two_people_and_a_removed_listener_goes_quiet(people, api):
    host = people("chost")
    host.sign_up()
    space_id = host.create_space("Chat in the browser")
    host.join()
    host.unmute()
    host_id = user_id_in(host.by("host-link").get_attribute("href") or "")
    ann, bob = people("ann"), people("bob")
    for listener, transport in ((ann, "webrtc"), (bob, "hls")):  # the stack's WebRTC cap is one listener
        listener.sign_up()
        listener.open_space(space_id)
        listener.join(transport=transport)
    harness.hears(ann.page, 440, timeout=10)
    ann_id = api.sign_in(ann.handle)["id"]

    host.say("welcome, everyone")
    for page in (host, ann, bob):
        said = page.by("chat-message").filter(has_text="welcome, everyone")
        expect(said).to_have_count(1)
        expect(said).to_have_attribute("data-from", host_id)
        expect(said).not_to_have_attribute("data-direct", "true")

    ann.say("psst, just for you", to=host_id)
    for page in (ann, host):
        whispered = page.by("chat-message").filter(has_text="psst, just for you")
        expect(whispered).to_have_count(1)
        expect(whispered).to_have_attribute("data-direct", "true")
        expect(whispered).to_have_attribute("data-from", ann_id)
    # A later message to everyone: once bob's page has it, the direct one would have arrived too.
    host.say("anything else?")
    expect(bob.by("chat-message").filter(has_text="anything else?")).to_have_count(1)
    expect(bob.by("chat-message").filter(has_text="psst, just for you")).to_have_count(0)

    host.act_on(ann_id, "remove")
    expect(ann.by("room-closed")).to_have_attribute("data-reason", "removed", timeout=15_000)
    harness.goes_quiet(ann.page, 440, timeout=10)
    expect(host.participant(ann_id)).to_have_count(0)
    expect(bob.by("room-closed")).to_have_count(0)  # the others stay
    harness.hears(bob.page, 440, timeout=20)
    host.by("end-space").click()
