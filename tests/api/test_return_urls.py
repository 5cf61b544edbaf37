"""Stripe's hosted pages send each person back to the client they came from: the app's deep
link by default, the web client's page of the space with ``{"client": "web"}``."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from chalicelib.models.spaces import SpaceModel
from chalicelib.wiring import build_services, services, use_services
from tests.api.rooms_support import make_person
from tests.api.test_ticketing import STRIPE_KEY, onboarded_host, shop, stripe_standin, ticketed_space  # noqa: F401
from tests.conftest import FAST_HASHER
from tests.fakes import RecordingMedia, RecordingPublisher
from tests.support import Api

WEB = "https://web.parlor.test"


@pytest.fixture
def web_shop(shop: Api, clock) -> Iterator[Api]:  # noqa: F811 - the fixture imported above
    """The shop, in a deployment that serves the web client at WEB."""
    settings = services().settings.model_copy(update={"web_url": WEB})
    use_services(build_services(settings, clock=clock, hasher=FAST_HASHER, events=RecordingPublisher(), media=RecordingMedia()))
    yield shop


def _session(standin, session_id: str) -> dict:
    return requests.get(f"{standin.base}/v1/checkout/sessions/{session_id}",
                        headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=10).json()


def test_a_web_buyer_comes_back_to_the_space_page_and_an_app_buyer_to_the_deep_link(web_shop, stripe_standin, clock):  # noqa: F811
    api = web_shop
    host = onboarded_host(api, stripe_standin)
    space_id = ticketed_space(api, host, clock)
    on_web, in_app = make_person(api, "webbuyer"), make_person(api, "appbuyer")

    opened = api.post(f"/v1/spaces/{space_id}/tickets/checkout", {"client": "web"}, token=on_web.token)
    assert opened.status == 201, opened.body
    session = _session(stripe_standin, opened.body["session_id"])
    assert session["success_url"] == f"{WEB}/#/spaces/{space_id}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"
    assert session["cancel_url"] == f"{WEB}/#/spaces/{space_id}?checkout=cancel"

    opened = api.post(f"/v1/spaces/{space_id}/tickets/checkout", token=in_app.token)  # no body: the app
    session = _session(stripe_standin, opened.body["session_id"])
    assert session["success_url"] == f"parlor://payments?space_id={space_id}&session_id={{CHECKOUT_SESSION_ID}}"


def test_an_unknown_client_is_refused_and_holds_no_seat(web_shop, stripe_standin, clock):  # noqa: F811
    api = web_shop
    space_id = ticketed_space(api, onboarded_host(api, stripe_standin), clock)
    buyer = make_person(api, "buyer")
    for body in ({"client": "tv"}, {"client": "web", "extra": 1}):
        reply = api.post(f"/v1/spaces/{space_id}/tickets/checkout", body, token=buyer.token)
        assert (reply.status, reply.error_code) == (400, "validation_error"), reply.body
    assert int(SpaceModel.get(space_id).seats_taken) == 0


def test_without_a_web_client_a_web_checkout_is_refused_before_any_seat_is_held(shop, stripe_standin, clock):  # noqa: F811
    api = shop
    space_id = ticketed_space(api, onboarded_host(api, stripe_standin), clock)
    buyer = make_person(api, "buyer")
    reply = api.post(f"/v1/spaces/{space_id}/tickets/checkout", {"client": "web"}, token=buyer.token)
    assert (reply.status, reply.error_code) == (409, "web_client_unavailable")
    assert int(SpaceModel.get(space_id).seats_taken) == 0
    assert api.post("/v1/me/payouts/onboarding", {"client": "web"}, token=buyer.token).error_code == "web_client_unavailable"


def test_a_host_onboarding_on_the_web_comes_back_to_the_web_client(web_shop, stripe_standin):  # noqa: F811
    host = make_person(web_shop, "webhost")
    reply = web_shop.post("/v1/me/payouts/onboarding", {"client": "web"}, token=host.token)
    assert reply.status == 200, reply.body
    agreed = requests.post(reply.body["url"], allow_redirects=False, timeout=10)  # the host agrees at Stripe
    assert agreed.headers.get("Location") == f"{WEB}/#/payouts?onboarding=return", (agreed.status_code, agreed.text)
