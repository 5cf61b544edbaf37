"""A ticketed space over the local stack: the API talks to the Stripe stand-in with the real
SDK, the stand-in pays and posts signed webhooks to the API, the buyer gets in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from tests.e2e.http import Http
from tests.waiting import wait_for


def test_onboard_buy_pay_and_join(stack):
    http = Http(f"http://127.0.0.1:{stack.ports.api}")
    stripe_base = f"http://127.0.0.1:{stack.ports.stripe}"
    users = {}
    for handle in ("t_host", "t_fan1", "t_fan2", "t_buyer"):
        status, body = http.call("POST", "/v1/accounts", {"handle": handle, "display_name": handle, "password": "e2e-password-1"})
        assert status == 201
        users[handle] = body
    host = users["t_host"]
    for fan in ("t_fan1", "t_fan2"):
        http.call("PUT", f"/v1/me/following/{host['user']['id']}", token=users[fan]["token"])

    status, onboarding = http.call("POST", "/v1/me/payouts/onboarding", token=host["token"])
    assert status == 200
    assert requests.post(onboarding["url"], allow_redirects=False, timeout=10).status_code in (200, 303)  # the host agrees

    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"title": "Paid e2e", "scheduled_start": start, "ticket": {"price_cents": 1500, "currency": "usd", "max_tickets": 10}}
    status, space = wait_for(lambda: (lambda r: r if r[0] == 201 else None)(
        http.call("POST", "/v1/spaces", body, token=host["token"])), 20, "the space is created")
    buyer = users["t_buyer"]
    status, checkout = http.call("POST", f"/v1/spaces/{space['id']}/tickets/checkout", token=buyer["token"])
    assert status == 201 and checkout["checkout_url"].startswith(stripe_base)
    assert requests.post(checkout["checkout_url"], allow_redirects=False, timeout=10).status_code in (200, 303)  # pays

    tickets = wait_for(lambda: [t for t in http.call("GET", "/v1/me/tickets", token=buyer["token"])[1]["tickets"]
                             if t["status"] == "paid"], 20, "the stack")
    assert tickets[0]["amount_cents"] == 1500 and tickets[0]["fee_cents"] == 45
    http.call("POST", f"/v1/spaces/{space['id']}/start", token=host["token"])
    status, body = http.call("POST", f"/v1/spaces/{space['id']}/join", token=users["t_fan1"]["token"])
    assert status == 403 and body["error"]["code"] == "ticket_required"
    joined = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http.call("POST", f"/v1/spaces/{space['id']}/join", token=buyer["token"])), 40, "the buyer joins")
    assert joined[1]["participant"]["role"] == "listener"
    http.call("POST", f"/v1/spaces/{space['id']}/end", token=host["token"])
