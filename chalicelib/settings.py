"""Settings, each declared once: name, type, default and environment variable
(``PARLOR_`` + the name in capitals). Read once per process, when first asked for — not
when a module is imported (``app.py`` asks as it builds the app). An empty variable counts
as unset. The AWS region is not a setting: every client takes the SDK's own
(``AWS_DEFAULT_REGION``, set on Lambda), so the models and the clients cannot disagree.

On AWS some values are not plain environment: the secrets (Secrets Manager JSON whose keys
are named like the variables: the one the deployer fills, the ones the stack generates, and
the TURN relay's) and the URLs the Lambdas cannot be given directly (SSM parameters).
They are read through Powertools Parameters, which caches them.

Secrets have no default: ``check_secrets`` refuses a missing, published or weak one, and the
API calls it as it builds its services (``chalicelib.wiring``), so it fails closed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Any

from pydantic import field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from parlor_contract.secret_rules import weakness

ENV_PREFIX = "PARLOR_"
CommaList = Annotated[tuple[str, ...], NoDecode]  # "a, b" in the environment


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_ignore_empty=True)

    stage: str = "dev"
    table_prefix: str = "parlor-dev"
    # Signing key for user session tokens (HS256). No default (see ``check_secrets``): the
    # local stack generates it, the CDK stack generates it into Secrets Manager.
    jwt_secret: str = ""
    # Access tokens are short-lived; clients refresh them (``POST /v1/sessions/refresh``) with
    # a rotating refresh token, whose session ends after this long without a refresh.
    token_ttl_seconds: int = 15 * 60
    refresh_ttl_seconds: int = 30 * 24 * 3600
    # Password reset by email (Amazon SES): the verified sender (the CDK declares the identity;
    # empty: no email is sent), how long a link works, and where it points (the app's deep link).
    email_sender: str = ""
    password_reset_ttl_seconds: int = 30 * 60
    password_reset_url: str = "parlor://reset-password"
    # The local stack logs each reset link (its SES delivers nothing). Never on AWS.
    log_reset_links: bool = False
    # Guessing and mass sign-up, throttled per fixed window by counters in DynamoDB: failed
    # sign-ins per handle and per source address, sign-ups per source address.
    sign_in_failures_per_handle: int = 5
    sign_in_failures_per_address: int = 20
    sign_in_window_seconds: int = 15 * 60
    sign_ups_per_address: int = 10
    sign_up_window_seconds: int = 3600
    host_min_followers: int = 600
    max_body_bytes: int = 16 * 1024
    api_url: str = "http://127.0.0.1:8000"
    # Web origins allowed to call the REST API from a browser (CORS), e.g.
    # "https://app.example.com, http://127.0.0.1:8080"; none by default (the local stack allows
    # its web origin). "*" allows any origin.
    cors_origins: CommaList = ()
    # Ed25519 private key (PEM) that signs media tokens; workers get the public half (the API
    # passes it to each worker it launches). Without a PEM the key is derived from
    # ``media_token_seed`` (Secrets Manager cannot generate a key pair, but it can a seed):
    # ``chalicelib.services.tokens.media_keypair``.
    media_token_private_key: str = ""
    media_token_public_key: str = ""
    media_token_seed: str = ""
    # Shared secret that signs API -> worker control calls and worker -> API callbacks.
    service_secret: str = ""
    realtime_url: str = "ws://127.0.0.1:8001"
    # Where the API Gateway management API (@connections) is: the WebSocket stage's https URL on AWS.
    ws_management_url: str = "http://127.0.0.1:8001/dev"
    # Events for more connections than this go through the fan-out queue, not the request.
    realtime_inline_limit: int = 50
    # Open sockets one person may have in one space; a new one beyond this closes their oldest.
    realtime_max_sockets_per_user: int = 3
    max_scheduled_per_host: int = 10
    schedule_horizon_days: int = 30
    unattended_grace_minutes: int = 10
    # How media workers are started: "local" (a subprocess per space), "ecs" (a Fargate task), "none".
    media_launcher: str = "none"
    media_base_port: int = 9000
    # Started, idle media workers kept for spaces going live (processes locally, Fargate tasks on AWS); 0: none.
    media_warm_pool: int = 2
    ecs_cluster: str = ""
    ecs_task_definition: str = ""
    ecs_container: str = "media-worker"
    ecs_subnets: CommaList = ()
    ecs_security_groups: CommaList = ()
    # TURN relay (coturn) for clients whose networks block UDP: the URLs handed out with each
    # join ("turn:host:3478?transport=udp, turn:host:3478?transport=tcp"), the secret coturn
    # shares with the API (``use-auth-secret``), and how long a credential may start an allocation.
    turn_urls: CommaList = ()
    turn_secret: str = ""
    turn_ttl_seconds: int = 600
    reminder_lead_minutes: int = 15
    host_reminder_minutes: int = 30
    sns_apns_arn: str = ""
    sns_fcm_arn: str = ""
    # Followers read per fan-out page job, and notifications sent per send job.
    fanout_page_size: int = 500
    send_batch_size: int = 100
    # Stripe: real Stripe unless an API base is given (the local stand-in).
    stripe_api_key: str = ""
    # Stripe's endpoint signing secret(s), comma-separated (platform and Connect endpoints).
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    platform_fee_bps: int = 300
    # Where Stripe sends buyers and hosts back: the app's deep link, or the web client's pages
    # when they came from it (``{"client": "web"}``); empty: no web client is deployed.
    app_return_url: str = "parlor://payments"
    web_url: str = ""
    # The audience tier (parlor_contract.hls): the S3 bucket of HLS streams, recordings and clips,
    # the CDN in front of it (CloudFront; locally its stand-in, local.cdn) and the CloudFront key
    # pair that signs access (the private key is a secret; the public key is in the key group).
    media_bucket: str = ""
    cdn_url: str = ""
    cdn_key_pair_id: str = ""
    cdn_private_key: str = ""
    # Listeners join on WebRTC while fewer than this many do; beyond it, on HLS through the CDN.
    # The stack sets it from the worker's task size (infra/derive.py: 60% of what one vCPU
    # carries in docs/BENCHMARKS.md, per vCPU); this default is a 1 vCPU task's.
    webrtc_listener_cap: int = 900
    # How long a signed HLS access lasts (renewed by joining again: a ban ends it at expiry),
    # and a replay's (long enough to play a long recording through).
    hls_access_seconds: int = 300
    replay_access_seconds: int = 4 * 3600
    # How many followees the live feed looks at (people follow at most a few thousand).
    feed_following_limit: int = 5000
    # On AWS, where the remote values are (see AwsParameters).
    secrets_arn: str = ""  # the one the deployer fills (Stripe's keys)
    generated_secret_arns: CommaList = ()  # the ones the stack generates (session, service, media token seed)
    turn_secret_arn: str = ""  # the TURN relay's own (generated) secret, shared with coturn
    ws_management_url_param: str = ""
    api_url_param: str = ""
    # The web client's origin (web_url, and allowed for CORS beside cors_origins): through SSM
    # on AWS since its distribution routes /s/* to the API (the environment would be a cycle).
    web_url_param: str = ""

    @field_validator("ecs_subnets", "ecs_security_groups", "turn_urls", "generated_secret_arns", "cors_origins",
                     mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: what the code passes, then the secret store, then the environment.
        return init_settings, AwsParameters(settings_cls), env_settings

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        if field not in cls.model_fields:
            raise KeyError(field)
        return ENV_PREFIX + field.upper()

    @classmethod
    def environment(cls, **values: Any) -> dict[str, str]:
        """Values as the environment that sets them (for the processes and stacks we start)."""
        return {cls.env_name(name): ",".join(v) if isinstance(v, tuple | list) else str(v) for name, v in values.items()}

    def table_name(self, short_name: str) -> str:
        return f"{self.table_prefix}-{short_name}"

    def queue_name(self, short_name: str) -> str:
        """SQS queues share the prefix; each has a dead-letter queue named ``<name>-dlq``."""
        return f"{self.table_prefix}-{short_name}"


class AwsParameters(PydanticBaseSettingsSource):
    """The values kept outside the environment on AWS, fetched once through Powertools
    Parameters. The secret's keys are environment variable names (``PARLOR_JWT_SECRET``);
    the URL parameters fill their settings only where the environment does not."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is fetched at once in __call__

    def __call__(self) -> dict[str, Any]:
        from aws_lambda_powertools.utilities import parameters  # boto3 comes with it: only where it is used

        env = os.environ
        by_env_name = {Settings.env_name(name): name for name in Settings.model_fields}
        values: dict[str, Any] = {}
        arns = [env.get(Settings.env_name("secrets_arn")), env.get(Settings.env_name("turn_secret_arn")),
                *env.get(Settings.env_name("generated_secret_arns"), "").split(",")]
        for arn in filter(None, (a.strip() for a in arns if a)):
            secret = parameters.get_secret(arn, transform="json")
            assert isinstance(secret, dict), "the secret is a JSON object"
            values.update({by_env_name[k]: str(v) for k, v in secret.items() if k in by_env_name})
        ws_param = env.get(Settings.env_name("ws_management_url_param"))
        if ws_param and not env.get(Settings.env_name("ws_management_url")):
            values["ws_management_url"] = str(parameters.get_parameter(ws_param))
            # Clients connect to the same WebSocket stage the management API posts to.
            values.setdefault("realtime_url", values["ws_management_url"].replace("https://", "wss://", 1))
        api_param = env.get(Settings.env_name("api_url_param"))
        if api_param and not env.get(Settings.env_name("api_url")):
            values["api_url"] = str(parameters.get_parameter(api_param))
        web_param = env.get(Settings.env_name("web_url_param"))
        if web_param and not env.get(Settings.env_name("web_url")):
            values["web_url"] = str(parameters.get_parameter(web_param))
            extra = env.get(Settings.env_name("cors_origins"), "")
            values["cors_origins"] = (values["web_url"], *(o.strip() for o in extra.split(",") if o.strip()))
        return values


# The settings that are secrets, beside the media token key (checked with the key pair it
# gives: chalicelib.services.tokens.media_keypair) and the CDN's signing key (an RSA key,
# checked with its key pair id wherever a CDN is set).
SECRETS = ("jwt_secret", "service_secret", "stripe_api_key", "stripe_webhook_secret")


class InsecureSettings(RuntimeError):
    """The API must not start: a secret is missing, published with the code, a placeholder or
    too short. The message names each variable."""


def check_secrets(settings: Settings) -> None:
    """Raise ``InsecureSettings`` naming every secret that may not be used (rules:
    ``parlor_contract.secret_rules``). Several webhook secrets (comma-separated) are each checked."""
    problems = []
    for name in SECRETS:
        value = getattr(settings, name)
        parts = [p.strip() for p in value.split(",")] if name == "stripe_webhook_secret" and value.strip() else [value]
        reason = next(filter(None, map(weakness, parts)), None)
        if reason:
            problems.append(f"{Settings.env_name(name)} {reason}")
    if not settings.media_token_private_key and (reason := weakness(settings.media_token_seed)):
        problems.append(f"{Settings.env_name('media_token_seed')} (or {Settings.env_name('media_token_private_key')}) {reason}")
    if settings.cdn_url:  # HLS access is signed for the CDN: without a usable key, no listener gets past it
        problems += _cdn_key_problems(settings)
    if problems:
        raise InsecureSettings("Refusing to start: " + "; ".join(problems)
                               + ". Set each to a generated value (README: Deploying to AWS; `make run` generates its own).")


def _cdn_key_problems(settings: Settings) -> list[str]:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    problems, cdn = [], f"(needed with {Settings.env_name('cdn_url')})"
    if not settings.cdn_key_pair_id.strip():
        problems.append(f"{Settings.env_name('cdn_key_pair_id')} is not set {cdn}")
    try:
        key = serialization.load_pem_private_key(settings.cdn_private_key.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        problems.append(f"{Settings.env_name('cdn_private_key')} is not an RSA private key PEM {cdn}")
    return problems


_installed: Settings | None = None


@lru_cache(maxsize=1)
def _from_environment() -> Settings:
    return Settings()


def get_settings() -> Settings:
    """The process's settings: installed ones (tests), else read once from the environment."""
    return _installed if _installed is not None else _from_environment()


def use_settings(settings: Settings | None) -> None:
    """Install settings for this process (tests), or None to read the environment again."""
    global _installed
    _installed = settings
    _from_environment.cache_clear()
