"""Secrets fail closed (issue 15). Parlor once shipped defaults for its secrets (and its CDK
stack seeded "set-me"): an API deployed without setting them signed sessions, control calls
and webhooks with values anyone could read in the code, and such sessions were forged.

Now the API does not serve, and a worker does not start, with a secret that is missing, a
published default, a placeholder or short; the error names the variable. The attacks are
made from outside: a forged session over HTTP, a forged control call to a real worker process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterator

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.gateways.launchers import LocalProcessLauncher, worker_env
from chalicelib.services.tokens import generate_media_keypair
from chalicelib.settings import Settings, use_settings
from chalicelib.wiring import services, use_services
from local import generated_secrets
from local.stack import Ports, free_media_base, stack_env
from parlor_contract import signatures
from parlor_contract.media import CONTROL_PATH
from parlor_contract.worker import WorkerEnv
from tests.conftest import MEDIA_PRIVATE_KEY, MEDIA_PUBLIC_KEY, TEST_SETTINGS
from tests.support import Api
from tests.waiting import wait_for

# The defaults chalicelib/settings.py published until issue 15.
OLD_JWT_SECRET = "dev-only-insecure-secret-change-me-0123456789"
OLD_SERVICE_SECRET = "dev-only-service-secret-0123456789abcdef"
OLD_DEFAULTS = {"jwt_secret": OLD_JWT_SECRET, "service_secret": OLD_SERVICE_SECRET, "stripe_api_key": "sk_test_local",
                "stripe_webhook_secret": "whsec_local", "media_token_seed": "set-me"}
SPACE = "01SPACEFORSECRETSTESTS00000"


def defaults_only() -> Settings:
    """What a deployment that sets none of its secrets runs with (the media key pair aside:
    before issue 15 the API made a throwaway one)."""
    return Settings(table_prefix=TEST_SETTINGS.table_prefix, sns_apns_arn=TEST_SETTINGS.sns_apns_arn,
                    sns_fcm_arn=TEST_SETTINGS.sns_fcm_arn, media_token_private_key=MEDIA_PRIVATE_KEY,
                    media_token_public_key=MEDIA_PUBLIC_KEY)


@contextmanager
def deployed(settings: Settings) -> Iterator[Api]:
    """The app as a Lambda runs it: ``app.py``'s app, its services built from the process's
    settings on first use (chalicelib.wiring.services)."""
    from chalice.test import Client

    from app import app

    use_settings(settings)
    use_services(None)
    try:
        with Client(app) as client:
            yield Api(client)
    finally:
        use_settings(TEST_SETTINGS)
        use_services(None)


def forged_session(user_id: str, secret: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iss": "parlor", "aud": "parlor-api", "iat": now, "exp": now + 3600}, secret,
                      algorithm="HS256")


# -- the API -------------------------------------------------------------------------------------


def test_a_session_forged_with_the_old_published_jwt_secret_gets_nowhere(api: Api):
    user_id, _ = api.sign_up("ada")
    forged = forged_session(user_id, OLD_JWT_SECRET)

    assert api.get("/v1/me", token=forged).status == 401  # a correctly configured API

    # Deployed without its secrets, the API used to sign and accept sessions with the
    # published default: the forged token was Ada (200). Now it serves nobody.
    with deployed(defaults_only()) as careless:
        reply = careless.get("/v1/me", token=forged)
    assert (reply.status, reply.error_code) == (500, "internal_error"), reply.body
    assert user_id not in json.dumps(reply.body)


WEAK_VALUES = {
    "missing": ("", "is not set"),
    "published default": (None, "is a value published with Parlor's code"),  # the variable's old default
    "old CDK placeholder": ("set-me", "is a value published with Parlor's code"),
    "placeholder": ("change-me-before-going-live-4f1c2a9e7b3d", "is a placeholder"),
    "short": ("q7Vd2LmX9pRt4sKw", "is shorter than 32 characters"),
}


@pytest.mark.parametrize("weak", list(WEAK_VALUES))
@pytest.mark.parametrize("name", list(OLD_DEFAULTS))
def test_the_api_refuses_to_serve_with_a_missing_published_or_weak_secret(aws: None, name: str, weak: str):
    value, reason = WEAK_VALUES[weak]
    value = OLD_DEFAULTS[name] if value is None else value
    update: dict[str, Any] = {name: value}
    if name == "media_token_seed":  # the seed is the key only where no PEM is given
        update.update(media_token_private_key="", media_token_public_key="")
    settings = TEST_SETTINGS.model_copy(update=update)
    variable = Settings.env_name(name)

    if name == "media_token_seed":
        variable += f" (or {Settings.env_name('media_token_private_key')})"

    with deployed(settings) as api:
        reply = api.post("/v1/accounts", {"handle": "ada", "display_name": "Ada", "password": "correct horse battery"})
        assert (reply.status, reply.error_code) == (500, "internal_error")  # no account, no stack trace
        from chalicelib.settings import InsecureSettings  # (imported here: the test also runs on the old code)

        with pytest.raises(InsecureSettings) as refused:
            services()  # what each handler asks for: the operator's log names the variable
    assert f"{variable} {reason}" in str(refused.value)
    assert len(value) < 4 or value not in str(refused.value) + json.dumps(reply.body)


def test_every_weak_secret_is_named_at_once(aws: None):
    from chalicelib.settings import InsecureSettings
    from chalicelib.wiring import build_services

    with pytest.raises(InsecureSettings) as refused:
        build_services(defaults_only())
    assert all(Settings.env_name(name) in str(refused.value)
               for name in ("jwt_secret", "service_secret", "stripe_api_key", "stripe_webhook_secret"))


def test_each_of_several_webhook_secrets_is_checked(aws: None):
    from chalicelib.settings import InsecureSettings
    from chalicelib.wiring import build_services

    good = "whsec_" + secrets.token_urlsafe(32)
    build_services(TEST_SETTINGS.model_copy(update={"stripe_webhook_secret": f"{good}, whsec_{secrets.token_urlsafe(32)}"}))
    with pytest.raises(InsecureSettings, match="PARLOR_STRIPE_WEBHOOK_SECRET is a value published"):
        build_services(TEST_SETTINGS.model_copy(update={"stripe_webhook_secret": f"{good}, whsec_local"}))


# -- the media token key ---------------------------------------------------------------------------


def test_without_a_pem_the_media_key_is_derived_from_the_seed_the_same_in_every_lambda(aws: None):
    from chalicelib.services.tokens import media_keypair
    from media_worker.auth import verify_media_grant

    seed = secrets.token_urlsafe(32)
    settings = TEST_SETTINGS.model_copy(update=dict(media_token_private_key="", media_token_public_key="",
                                                    media_token_seed=seed))
    private, public = media_keypair(settings)
    assert media_keypair(settings) == (private, public)  # another cold start, the same key
    assert media_keypair(settings.model_copy(update={"media_token_seed": secrets.token_urlsafe(32)}))[1] != public
    token = services_for(settings).room_tokens.media_grant(SPACE, "ada", "speaker", False, datetime.now(UTC))
    assert verify_media_grant(token, public, SPACE).user_id == "ada"


def services_for(settings: Settings) -> Any:
    from chalicelib.wiring import build_services

    return build_services(settings)


@pytest.mark.parametrize(("update", "message"), [
    ({"media_token_private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"},
     "PARLOR_MEDIA_TOKEN_PRIVATE_KEY is not a PEM private key"),
    ({"media_token_public_key": generate_media_keypair()[1]},
     "PARLOR_MEDIA_TOKEN_PUBLIC_KEY is not the public half of PARLOR_MEDIA_TOKEN_PRIVATE_KEY"),
])
def test_a_media_key_that_cannot_sign_for_the_workers_is_refused(aws: None, update: dict, message: str):
    from chalicelib.settings import InsecureSettings

    with pytest.raises(InsecureSettings, match=message):
        services_for(TEST_SETTINGS.model_copy(update=update))


def test_a_fargate_worker_gets_the_public_key_with_its_task_and_no_secret(aws: None):
    """On AWS the task definition no longer carries the public key: the API passes the public
    half of its (seed-derived) key in each RunTask's overrides."""
    from media_worker.auth import verify_media_grant

    ecs, ec2 = boto3.client("ecs"), boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's ECS names the task's interface
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="media-secrets", Description="media", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName="parlor-secrets")
    ecs.register_task_definition(
        family="parlor-secrets-media-worker", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", containerDefinitions=[{"name": "media-worker", "image": "parlor/media-worker", "memory": 512}])
    settings = TEST_SETTINGS.model_copy(update=dict(
        media_token_private_key="", media_token_public_key="", media_token_seed=secrets.token_urlsafe(32),
        media_launcher="ecs", media_warm_pool=0, ecs_cluster="parlor-secrets", ecs_task_definition="parlor-secrets-media-worker",
        ecs_subnets=(subnet,), ecs_security_groups=(group,)))
    built = services_for(settings)

    built.media.start(SPACE)

    (arn,) = ecs.list_tasks(cluster="parlor-secrets")["taskArns"]
    (task,) = ecs.describe_tasks(cluster="parlor-secrets", tasks=[arn])["tasks"]
    environment = {e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]}
    token = built.room_tokens.media_grant(SPACE, "ada", "listener", False, datetime.now(UTC))
    assert verify_media_grant(token, environment[WorkerEnv.TOKEN_PUBLIC_KEY], SPACE).user_id == "ada"
    assert WorkerEnv.SERVICE_SECRET not in environment and "PRIVATE KEY" not in json.dumps(environment)


# -- the worker ------------------------------------------------------------------------------------


def health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return dict(json.loads(resp.read()))
    except (urllib.error.URLError, OSError):
        return None


def control(port: int, secret: str, command: dict) -> int:
    """A control call signed as the API signs them, with ``secret`` as the service secret."""
    body = json.dumps({"space_id": SPACE, "decided_at": int(time.time() * 1000), **command}).encode()
    key = signatures.space_key(secret, SPACE)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{CONTROL_PATH}", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              signatures.HEADER: signatures.sign_request(key, "POST", CONTROL_PATH, body)})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_a_worker_the_local_stack_launches_refuses_control_calls_signed_with_the_old_default(tmp_path: Path):
    """As ``make run`` does: the stack's generated secrets in the API's environment, which
    launches each worker with the service secret and the media public key (worker_env)."""
    generated = generated_secrets.load_or_create(tmp_path)
    env = stack_env(Ports.free(), os.environ, generated)
    public_key, service_secret = env[Settings.env_name("media_token_public_key")], env[Settings.env_name("service_secret")]
    # No workers table: this worker needs no heartbeat to show what it accepts.
    launcher = LocalProcessLauncher(worker_env(env, "", public_key, service_secret, env[Settings.env_name("api_url")]),
                                    free_media_base(), stop_grace_seconds=0.5)
    handle = launcher.launch(SPACE)
    try:
        port = next(iter(launcher.ports_in_use()))
        wait_for(lambda: health(port), 30, "the worker never answered")
        assert control(port, OLD_SERVICE_SECRET, {"action": "close"}) == 401
        assert health(port), "still serving"
        assert control(port, service_secret, {"action": "close"}) == 200
    finally:
        launcher.terminate(handle)


def worker_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m media_worker`` with ``env``, as the local launcher starts it; it must exit
    by itself (a worker that serves would run past the timeout: the test fails)."""
    return subprocess.run([sys.executable, "-m", "media_worker"], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("secret", "public_key", "message"), [
    ("", MEDIA_PUBLIC_KEY, "PARLOR_SERVICE_SECRET is not set"),
    (OLD_SERVICE_SECRET, MEDIA_PUBLIC_KEY, "PARLOR_SERVICE_SECRET is a value published with Parlor's code"),
    ("set-me", MEDIA_PUBLIC_KEY, "PARLOR_SERVICE_SECRET is a value published with Parlor's code"),
    (WEAK_VALUES["placeholder"][0], MEDIA_PUBLIC_KEY, "PARLOR_SERVICE_SECRET is a placeholder"),
    (WEAK_VALUES["short"][0], MEDIA_PUBLIC_KEY, "PARLOR_SERVICE_SECRET is shorter than 32 characters"),
    ("a-good-generated-service-secret-9f8e7d6c5b4a", "", "PARLOR_MEDIA_TOKEN_PUBLIC_KEY is required"),
], ids=["missing", "published default", "old CDK placeholder", "placeholder", "short", "no public key"])
def test_a_worker_refuses_to_start_with_a_missing_published_or_weak_key(secret: str, public_key: str, message: str):
    env = worker_env(os.environ, "", public_key, secret, "http://127.0.0.1:1")
    env.update({WorkerEnv.SPACE_ID: SPACE, WorkerEnv.PORT: "0"})
    done = worker_exit(env)
    assert done.returncode == 2, done.stderr
    (error,) = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert error["message"] == "cannot start" and message in error["error"]
    assert len(secret) < 4 or secret not in done.stderr


# -- the CDN signing key ---------------------------------------------------------------------------

CDN_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
WITH_CDN = {"cdn_url": "https://cdn.example", "cdn_key_pair_id": "K2JCJMDEHXQW5F", "cdn_private_key": CDN_KEY}


def test_a_cdn_with_its_rsa_key_and_key_pair_id_is_accepted_and_no_cdn_needs_neither():
    from chalicelib.settings import check_secrets

    check_secrets(TEST_SETTINGS.model_copy(update=WITH_CDN))
    check_secrets(TEST_SETTINGS.model_copy(update={"cdn_url": "", "cdn_key_pair_id": "", "cdn_private_key": ""}))


@pytest.mark.parametrize(("update", "message"), [
    ({"cdn_key_pair_id": ""}, "PARLOR_CDN_KEY_PAIR_ID is not set (needed with PARLOR_CDN_URL)"),
    ({"cdn_private_key": ""}, "PARLOR_CDN_PRIVATE_KEY is not an RSA private key PEM (needed with PARLOR_CDN_URL)"),
    ({"cdn_private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-key-at-all-0123456789\n-----END PRIVATE KEY-----\n"},
     "PARLOR_CDN_PRIVATE_KEY is not an RSA private key PEM"),
    ({"cdn_private_key": MEDIA_PRIVATE_KEY}, "PARLOR_CDN_PRIVATE_KEY is not an RSA private key PEM"),  # Ed25519
    ({"cdn_private_key": CDN_KEY.split("\n", 1)[1]}, "PARLOR_CDN_PRIVATE_KEY is not an RSA private key PEM"),  # no header
], ids=["no key pair id", "no key", "garbage PEM", "not RSA", "cut PEM"])
def test_a_cdn_without_a_usable_signing_key_is_refused_naming_the_variable(update: dict, message: str):
    from chalicelib.settings import InsecureSettings, check_secrets

    settings = TEST_SETTINGS.model_copy(update={**WITH_CDN, **update})
    with pytest.raises(InsecureSettings) as refused:
        check_secrets(settings)
    assert message in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)
    assert len(settings.cdn_private_key) < 80 or settings.cdn_private_key[40:80] not in str(refused.value)
