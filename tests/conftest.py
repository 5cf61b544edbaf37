"""Test set-up: an in-process moto for AWS, one set of tables per session, a fresh
container and an empty database per test."""

from __future__ import annotations

import os

# Before anything imports boto3 or the models: no real endpoints, fake credentials,
# test table names. Endpoint variables would send calls past moto to a running server.
for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[_name]
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "PARLOR_TABLE_PREFIX": "parlor-test",
        "PARLOR_JWT_SECRET": "test-secret-for-session-tokens-0123456789abcdef",
    }
)

import threading  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core.botocore_stubber import BotocoreStubber  # noqa: E402

from chalicelib.clock import ManualClock  # noqa: E402
from chalicelib.models import ALL_MODELS  # noqa: E402
from chalicelib.models.tables import create_all_tables  # noqa: E402
from chalicelib.services.tokens import generate_media_keypair  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.wiring import Services, build_services, use_services  # noqa: E402
from local.bootstrap import PLATFORM_ARNS, create_platform_applications  # noqa: E402
from tests.fakes import RecordingMedia, RecordingPublisher  # noqa: E402
from tests.support import Api  # noqa: E402

# Cheap hashing keeps sign-ups fast; production uses argon2-cffi's RFC 9106 defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    from local.bootstrap import create_queues, sqs_queue_names

    with serialized_requests(), mock_aws():
        create_all_tables(wait=False)
        create_queues(sqs_queue_names())
        create_platform_applications()
        yield


@contextmanager
def serialized_requests() -> Iterator[None]:
    """Make each moto request atomic, as each DynamoDB request is.

    moto's backends are not thread-safe (TransactWriteItems deep-copies tables while
    other threads write), so concurrency tests would crash moto rather than test us.
    One lock per request keeps DynamoDB's guarantee (a request is atomic) and leaves
    every interleaving *between* requests, where read-then-write races live, possible.
    """
    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self, request):  # type: ignore[no-untyped-def]
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


MEDIA_PRIVATE_KEY, MEDIA_PUBLIC_KEY = generate_media_keypair()


@pytest.fixture
def settings() -> Settings:
    return replace(Settings.from_env(), media_token_private_key=MEDIA_PRIVATE_KEY,
                   media_token_public_key=MEDIA_PUBLIC_KEY, sns_apns_arn=PLATFORM_ARNS["apns"],
                   sns_fcm_arn=PLATFORM_ARNS["fcm"])


@pytest.fixture
def events() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def media() -> RecordingMedia:
    return RecordingMedia()


@pytest.fixture
def container(aws: None, clock: ManualClock, settings: Settings, events: RecordingPublisher,
              media: RecordingMedia) -> Iterator[Services]:
    built = build_services(settings, clock=clock, hasher=FAST_HASHER, events=events, media=media)
    use_services(built)
    yield built
    use_services(None)
    _empty_tables()


def _empty_tables() -> None:
    for model in ALL_MODELS:
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)


@pytest.fixture
def api(container: Services) -> Iterator[Api]:
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield Api(client)
