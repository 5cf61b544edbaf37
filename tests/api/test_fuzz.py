"""Schema-driven fuzzing of every operation in ``/openapi.json``: schemathesis (its engine, as
``schemathesis run`` drives it) sends valid and invalid requests to the app served over HTTP
by ``chalice local``'s own server: no answer may be a 5xx, and every answer must be one the
spec declares for the operation (status, content type, headers, body schema), so the spec
cannot drift from the code unnoticed.

Requests carry a signed-up host's bearer token, and path ids are drawn from a live room's
real ids as well as generated, so most routes get past the lookup into their logic.
"""

from __future__ import annotations

import secrets
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from chalicelib.admin import set_staff
from chalicelib.api import ROUTERS
from chalicelib.settings import Settings
from local.stripe_standin import Config, create_app
from tests.api.rooms_support import Room, open_room
from tests.conftest import TEST_SETTINGS
from tests.servers import ServedApp, ServedChalice

# One test per tag (accounts, social, spaces, ...): each gets a fresh database and room.
TAGS = sorted({spec.tag for router in ROUTERS for spec in router.specs if spec.public})
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance")
# Bounded so the whole run takes about a minute on 2 cores; a fixed seed makes it repeatable.
MAX_EXAMPLES = 15
SEED = 14
# Made per run: the API refuses published (and short) Stripe secrets.
WEBHOOK_SECRET = "whsec_" + secrets.token_urlsafe(32)
STRIPE_KEY = "sk_test_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def stripe_standin() -> Iterator[ServedApp]:
    standin = ServedApp(create_app(Config(webhook_secret=WEBHOOK_SECRET)))
    yield standin
    standin.stop()


@pytest.fixture
def settings(stripe_standin: ServedApp) -> Settings:
    """The test settings, with Stripe's calls going to the stand-in (payouts, checkout)."""
    return TEST_SETTINGS.model_copy(update=dict(stripe_api_base=stripe_standin.url, stripe_webhook_secret=WEBHOOK_SECRET,
                                                stripe_api_key=STRIPE_KEY))


@pytest.fixture
def served(api: Any) -> Iterator[ServedChalice]:
    from app import app

    server = ServedChalice(app)
    yield server
    server.stop()


@pytest.fixture
def room(api: Any) -> Room:
    return open_room(api)


@pytest.mark.parametrize("tag", TAGS)
def test_no_request_is_answered_with_a_server_error(served: ServedChalice, room: Room, tag: str) -> None:
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        "base-url": served.url,
        "continue-on-failure": True,
        "headers": {"Authorization": f"Bearer {room.host.token}"},
        "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
        # No example database: the seed alone decides what runs, and nothing is written to the tree.
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=config).include(tag=tag)
    real_ids = {"space_id": [room.space_id], "user_id": [room.host.id, room.cohost.id, room.speaker.id,
                                                        room.listener.id, room.banned.id]}
    if tag == "staff":  # the staff routes, driven by staff (everyone else is only ever refused)
        set_staff("host", True, "fuzz")
        real_ids["report_id"] = [api_report(room)]

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        real = {name: st.sampled_from(real_ids.get(name, [value])) for name, value in path_parameters.items()}
        return st.one_of(st.just(path_parameters), st.fixed_dictionaries(real))

    server_errors, other_problems, exercised = [], [], set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                exercised.add(event.recorder.label)
                status = interaction.response.status_code if interaction.response else "no answer"
                if status == "no answer" or int(status) >= 500:
                    request = interaction.request
                    server_errors.append(f"{status} {request.method} {request.uri[:200]} {(request.body or b'')[:200]!r}")
            other_problems += [f"{event.recorder.label}: {check.name} {check.failure_info.failure.title}"
                               for checks in event.recorder.checks.values() for check in checks
                               if check.status == Status.FAILURE and check.failure_info]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            other_problems.append(repr(event))
    assert exercised == {f"{spec.method} {spec.path}" for router in ROUTERS for spec in router.specs
                         if spec.tag == tag and spec.public}
    assert not server_errors, "\n".join(server_errors)
    assert not other_problems, "\n".join(other_problems)


def api_report(room: Room) -> str:
    """A real open report (the listener's, on the room), so the staff routes get past the lookup."""
    from chalicelib.services.reports import Target
    from chalicelib.wiring import services

    return services().reports.file(room.listener.id, Target("space", room.space_id), "spam", None).report_id
