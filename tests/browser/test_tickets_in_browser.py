"""A ticket bought in the browser through the hosted checkout page (the Stripe stand-in's),
back to the space, and in. The host's set-up (payouts, a scheduled ticketed space) is not what
this is about: it goes through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import requests
from playwright.sync_api import expect

from tests.browser import harness


def test_a_ticket_bought_through_the_hosted_checkout_returns_to_the_space_and_admits_the_buyer(people, api, stack):
    host = api.sign_up(f"thost{datetime.now(UTC):%H%M%S}")
    status, onboarding = api.call("POST", "/v1/me/payouts/onboarding", token=host["token"])
    assert status == 200, onboarding
    assert requests.post(onboarding["url"], allow_redirects=False, timeout=10).status_code in (200, 303)  # the host agrees
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"title": "Paid in the browser", "scheduled_start": start,
            "ticket": {"price_cents": 1500, "currency": "usd", "max_tickets": 10}}
    space = harness.eventually(lambda: api.call("POST", "/v1/spaces", body, token=host["token"]),
                               lambda r: r[0] == 201, 20, "the ticketed space is created (payouts enabled)")[1]
    space_id = space["id"]

    buyer = people("buyer", width=390)
    buyer.sign_up()
    buyer.open_space(space_id)
    expect(buyer.by("space-state")).to_have_text(re.compile("scheduled", re.I))
    buyer.by("buy-ticket").click()
    buyer.page.wait_for_url(f"http://127.0.0.1:{stack.ports.stripe}/**", timeout=20_000)  # the hosted checkout page
    buyer.page.get_by_role("button", name=re.compile("Pay")).click()
    buyer.page.wait_for_url(re.compile(rf".*#/spaces/{space_id}\?checkout=success.*"), timeout=20_000)
    expect(buyer.by("space-title")).to_have_text("Paid in the browser")
    expect(buyer.by("buy-ticket")).to_be_hidden(timeout=20_000)  # held, once the payment's webhook is in
    expect(buyer.by("checkout-status")).to_have_attribute("data-status", "paid", timeout=20_000)
    buyer.no_error()
    buyer.screenshot("checkout-return.png")

    status, started = api.call("POST", f"/v1/spaces/{space_id}/start", token=host["token"])
    assert status == 200, started
    buyer.page.reload()
    expect(buyer.by("space-state")).to_have_text(re.compile("live", re.I))
    buyer.join()
    buyer_id = api.sign_in(buyer.handle)["id"]
    expect(buyer.by("audience").locator(f'[data-testid="participant"][data-user-id="{buyer_id}"]')).to_have_attribute(
        "data-role", "listener")

    # Someone without a ticket is offered one, and is not let in.
    other = people("nofan")
    other.sign_up()
    other.open_space(space_id)
    expect(other.by("buy-ticket")).to_be_visible()
    if other.by("join").is_visible():
        other.by("join").click()
        expect(other.by("error")).to_have_attribute("data-code", "ticket_required")
    expect(other.by("leave")).to_have_count(0)
    api.call("POST", f"/v1/spaces/{space_id}/end", token=host["token"])
