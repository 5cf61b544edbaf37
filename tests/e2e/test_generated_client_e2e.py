"""The README walk-through as a mobile developer would run it: a client generated from the
served ``/openapi.json`` with openapi-python-client (strict: an answer the spec does not
declare raises), against the local stack as real processes, including a ticket bought
through the Stripe stand-in."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest
import requests

from tests.waiting import wait_for

PACKAGE = "parlor_client"


@pytest.fixture(scope="module")
def client_package(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """Generates the client from the spec the stack serves, in a temporary directory, and imports it."""
    where: Path = tmp_path_factory.mktemp("generated")
    spec = requests.get(f"http://127.0.0.1:{stack.ports.api}/openapi.json", timeout=10).json()
    (where / "openapi.json").write_text(json.dumps(spec))
    # No post hooks: the generated code is imported as it is, not formatted.
    (where / "config.yml").write_text(f"package_name_override: {PACKAGE}\nproject_name_override: {PACKAGE}\npost_hooks: []\n")
    subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", str(where / "openapi.json"),
                    "--config", str(where / "config.yml"), "--meta", "none", "--fail-on-warning",
                    "--output-path", str(where / PACKAGE)], check=True, capture_output=True, timeout=120)
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> ModuleType:
    """An operation's module, e.g. ``rooms_join`` from ``parlor_client.api.rooms``."""
    return importlib.import_module(f"{PACKAGE}.api.{name.split('_', 1)[0]}.{name}")


def _retrying(call: Callable[[], Any], within: float = 60) -> Any:
    """The parsed answer, retrying a 503 (media starting) after its Retry-After, as the README says to."""
    deadline = time.monotonic() + within
    while True:
        response = call()
        if response.status_code != 503 or time.monotonic() > deadline:
            return response.parsed
        time.sleep(min(float(response.headers.get("retry-after", "1")), 2))


def test_the_readme_walk_through_with_a_generated_client(stack: Any, client_package: ModuleType) -> None:
    from parlor_client import AuthenticatedClient, Client
    from parlor_client.models import (
        AuthOut,
        CreateSpaceIn,
        JoinIn,
        JoinInTransportType0,
        JoinOutTransport,
        MessageIn,
        ParticipantOutRole,
        SetRoleIn,
        SetRoleInRole,
        SignUpIn,
        SpaceOutState,
        TicketIn,
        TicketInCurrency,
        TicketOutStatus,
    )

    base = f"http://127.0.0.1:{stack.ports.api}"

    def sign_up(handle: str) -> tuple[str, Any]:
        auth = _api("accounts_sign_up").sync(client=Client(base, raise_on_unexpected_status=True),
                                             body=SignUpIn(handle=handle, display_name=handle.title(), password="e2e-password-1"))
        assert isinstance(auth, AuthOut), auth
        return auth.user.id, AuthenticatedClient(base, token=auth.token, raise_on_unexpected_status=True)

    (host_id, host), (bob_id, bob), (_, cleo), (_, buyer) = (sign_up(h) for h in ("gc_ada", "gc_bob", "gc_cleo", "gc_buyer"))
    for fan in (bob, cleo):
        assert _api("social_follow").sync(host_id, client=fan).following is True
    assert _api("accounts_me").sync(client=host).can_host is True

    space = _retrying(lambda: _api("spaces_create_space").sync_detailed(client=host, body=CreateSpaceIn(title="Morning show")))
    assert space.state == SpaceOutState.LIVE and isinstance(space.created_at, datetime)
    for person in (host, bob, cleo):
        joined = _retrying(lambda p=person: _api("rooms_join").sync_detailed(space.id, client=p))
        assert joined.media.offer_url.endswith(f"/v1/spaces/{space.id}/media/offer") and joined.realtime.token
    assert joined.participant.role == ParticipantOutRole.LISTENER

    assert _api("rooms_raise_hand").sync(space.id, client=bob).hand_raised is True
    assert [p.user_id for p in _api("rooms_speak_requests").sync(space.id, client=host).requests] == [bob_id]
    approved = _api("rooms_set_role").sync(space.id, bob_id, client=host, body=SetRoleIn(role=SetRoleInRole.SPEAKER))
    assert approved.role == ParticipantOutRole.SPEAKER
    message = _api("chat_post_message").sync(space.id, client=cleo, body=MessageIn(text="hello!"))
    assert message.text == "hello!" and message.created_at.tzinfo is not None
    people = _api("rooms_participants").sync(space.id, client=host)
    assert [p.user_id for p in people.speakers] == [bob_id] and people.participant_count == 3
    # Cleo asks to hear it through HLS: a signed playlist instead of a WebRTC offer URL.
    heard = _api("rooms_join").sync(space.id, client=cleo, body=JoinIn(transport=JoinInTransportType0.HLS))
    assert heard.transport == JoinOutTransport.HLS and heard.media is None
    assert "/hls/live.m3u8?" in heard.hls.url and heard.hls.expires_at.tzinfo is not None
    assert _api("spaces_get_space").sync(space.id, client=host).hls_listener_count == 1
    assert _api("spaces_end_space").sync(space.id, client=host).state == SpaceOutState.ENDED
    replay = _retrying(lambda: _api("audience_replay").sync_detailed(space.id, client=cleo))
    assert "/hls/replay.m3u8?" in replay.url and replay.available_until > datetime.now(UTC) + timedelta(days=29)
    ended = _api("spaces_search_spaces").sync(client=bob, state="ended", creator_ids=host_id)
    assert [(s.id, s.has_replay) for s in ended.spaces] == [(space.id, True)]

    # A ticketed space: the host onboards for payouts, a buyer pays through Checkout.
    onboarding = _api("ticketing_onboarding").sync(client=host)
    assert requests.post(onboarding.url, allow_redirects=False, timeout=10).status_code in (200, 303)  # the host agrees
    terms = CreateSpaceIn(title="Paid talk", scheduled_start=datetime.now(UTC) + timedelta(days=1),
                          ticket=TicketIn(price_cents=1500, currency=TicketInCurrency.USD, max_tickets=10))
    create = _api("spaces_create_space")
    paid = wait_for(lambda: (lambda r: r.parsed if r.status_code == 201 else None)(  # once Stripe's webhook enabled payouts
        create.sync_detailed(client=host, body=terms)), 20, "the ticketed space")
    assert paid.is_ticketed and paid.ticket.price_cents == 1500
    checkout = _api("ticketing_checkout").sync(paid.id, client=buyer)
    assert requests.post(checkout.checkout_url, allow_redirects=False, timeout=10).status_code in (200, 303)  # pays
    tickets = wait_for(lambda: [t for t in _api("ticketing_my_tickets").sync(client=buyer).tickets
                                if t.status == TicketOutStatus.PAID], 20, "the payment is recorded")
    assert tickets[0].space_id == paid.id and tickets[0].amount_cents == 1500
