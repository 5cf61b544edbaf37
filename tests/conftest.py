"""Test set-up: an in-process moto for AWS, test settings installed for the whole session,
one set of tables per session, a fresh container and an empty database per test."""

from __future__ import annotations

import os
import secrets
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Iterator

import boto3
import pytest
from argon2 import PasswordHasher
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib.clock import ManualClock
from chalicelib.gateways.cdn import generate_private_key
from chalicelib.models import ALL_MODELS
from chalicelib.models.tables import create_all_tables
from chalicelib.services.tokens import generate_media_keypair
from chalicelib.settings import Settings, use_settings
from chalicelib.wiring import Services, build_services, use_services
from local.bootstrap import PLATFORM_ARNS, create_platform_applications, verify_email_sender
from tests.fakes import RecordingMedia, RecordingPublisher
from tests.support import Api

MEDIA_PRIVATE_KEY, MEDIA_PUBLIC_KEY = generate_media_keypair()
# What every test runs with unless it asks for other values (settings.model_copy(update=...)).
# The secrets are made per run, as the local stack makes its own: the API refuses published ones.
TEST_SETTINGS = Settings(table_prefix="parlor-test", jwt_secret=secrets.token_urlsafe(32),
                         service_secret=secrets.token_urlsafe(32), stripe_api_key="sk_test_" + secrets.token_urlsafe(32),
                         stripe_webhook_secret="whsec_" + secrets.token_urlsafe(32),
                         media_token_private_key=MEDIA_PRIVATE_KEY, media_token_public_key=MEDIA_PUBLIC_KEY,
                         sns_apns_arn=PLATFORM_ARNS["apns"], sns_fcm_arn=PLATFORM_ARNS["fcm"],
                         # Every test client request comes from 127.0.0.1; tests/security checks the real limit.
                         sign_ups_per_address=100_000,
                         # Access tokens that outlive the hours reminder tests move the clock by
                         # (the default is 15 minutes: tests/api/test_account_lifecycle.py).
                         token_ttl_seconds=7 * 24 * 3600,
                         email_sender="no-reply@parlor.test",
                         # The audience tier: moto's S3, and a CDN whose signatures tests check
                         # with the local stand-in's rules (local/cdn.py).
                         media_bucket="parlor-test-media", cdn_url="https://cdn.parlor.test", cdn_key_pair_id="KTESTKEY",
                         cdn_private_key=generate_private_key())
# moto wants credentials and a region; endpoint variables would send calls past moto to a running server.
FAKE_AWS_ENVIRONMENT = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}

# Cheap hashing keeps sign-ups fast; production uses argon2-cffi's RFC 9106 defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    from local.bootstrap import create_queues, sqs_queue_names

    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            env.delenv(name)
        for name, value in FAKE_AWS_ENVIRONMENT.items():
            env.setenv(name, value)
        use_settings(TEST_SETTINGS)
        with serialized_requests(), mock_aws():
            create_all_tables(wait=False)
            create_queues(sqs_queue_names())
            create_platform_applications()
            verify_email_sender(TEST_SETTINGS.email_sender)
            boto3.client("s3").create_bucket(Bucket=TEST_SETTINGS.media_bucket)
            yield
        use_settings(None)


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


@pytest.fixture
def settings() -> Settings:
    return TEST_SETTINGS


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
