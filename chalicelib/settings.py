"""Settings read once from the environment into one frozen object."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in env.get(name, "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    table_prefix: str = "parlor-dev"
    # Signing key for user session tokens (HS256). Never a default in production:
    # the stacks set it from Secrets Manager.
    jwt_secret: str = "dev-only-insecure-secret-change-me-0123456789"
    token_ttl_seconds: int = 7 * 24 * 3600
    host_min_followers: int = 600
    max_body_bytes: int = 16 * 1024
    page_size: int = 50
    api_url: str = "http://127.0.0.1:8000"
    region: str = "us-east-1"
    # Ed25519 private key (PEM) that signs media tokens; workers get the public half.
    media_token_private_key: str = ""
    media_token_public_key: str = ""
    # Shared secret that signs API -> worker control calls and worker -> API callbacks.
    service_secret: str = "dev-only-service-secret-0123456789abcdef"
    realtime_url: str = "ws://127.0.0.1:8001"
    # Where the API Gateway management API (@connections) is: the WebSocket stage's https URL on AWS.
    ws_management_url: str = "http://127.0.0.1:8001/dev"
    # Events for more connections than this go through the fan-out queue, not the request.
    realtime_inline_limit: int = 50
    max_scheduled_per_host: int = 10
    schedule_horizon_days: int = 30
    unattended_grace_minutes: int = 10
    # How media workers are started: "local" (a subprocess per space), "ecs" (a Fargate task), "none".
    media_launcher: str = "none"
    media_base_port: int = 9000
    ecs_cluster: str = ""
    ecs_task_definition: str = ""
    ecs_container: str = "media-worker"
    ecs_subnets: tuple[str, ...] = ()
    ecs_security_groups: tuple[str, ...] = ()
    reminder_lead_minutes: int = 15
    host_reminder_minutes: int = 30
    sns_apns_arn: str = ""
    sns_fcm_arn: str = ""
    # Followers read per fan-out page job, and notifications sent per send job.
    fanout_page_size: int = 500
    send_batch_size: int = 100
    # Stripe: real Stripe unless an API base is given (the local stand-in).
    stripe_api_key: str = "sk_test_local"
    stripe_webhook_secret: str = "whsec_local"
    stripe_api_base: str = ""
    platform_fee_bps: int = 300
    # Where Stripe sends buyers and hosts back (the app's deep links).
    app_return_url: str = "parlor://payments"
    # How many followees the live feed looks at (people follow at most a few thousand).
    feed_following_limit: int = 5000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        d = cls()
        return cls(
            stage=env.get("PARLOR_STAGE", d.stage),
            table_prefix=env.get("PARLOR_TABLE_PREFIX", d.table_prefix),
            jwt_secret=env.get("PARLOR_JWT_SECRET", d.jwt_secret),
            token_ttl_seconds=_int(env, "PARLOR_TOKEN_TTL_SECONDS", d.token_ttl_seconds),
            host_min_followers=_int(env, "PARLOR_HOST_MIN_FOLLOWERS", d.host_min_followers),
            max_body_bytes=_int(env, "PARLOR_MAX_BODY_BYTES", d.max_body_bytes),
            page_size=_int(env, "PARLOR_PAGE_SIZE", d.page_size),
            api_url=env.get("PARLOR_API_URL", d.api_url),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or d.region,
            media_token_private_key=env.get("PARLOR_MEDIA_TOKEN_PRIVATE_KEY", d.media_token_private_key),
            media_token_public_key=env.get("PARLOR_MEDIA_TOKEN_PUBLIC_KEY", d.media_token_public_key),
            service_secret=env.get("PARLOR_SERVICE_SECRET", d.service_secret),
            realtime_url=env.get("PARLOR_REALTIME_URL", d.realtime_url),
            ws_management_url=env.get("PARLOR_WS_MANAGEMENT_URL", d.ws_management_url),
            realtime_inline_limit=_int(env, "PARLOR_REALTIME_INLINE_LIMIT", d.realtime_inline_limit),
            max_scheduled_per_host=_int(env, "PARLOR_MAX_SCHEDULED_PER_HOST", d.max_scheduled_per_host),
            schedule_horizon_days=_int(env, "PARLOR_SCHEDULE_HORIZON_DAYS", d.schedule_horizon_days),
            unattended_grace_minutes=_int(env, "PARLOR_UNATTENDED_GRACE_MINUTES", d.unattended_grace_minutes),
            media_launcher=env.get("PARLOR_MEDIA_LAUNCHER", d.media_launcher),
            media_base_port=_int(env, "PARLOR_MEDIA_BASE_PORT", d.media_base_port),
            ecs_cluster=env.get("PARLOR_ECS_CLUSTER", d.ecs_cluster),
            ecs_task_definition=env.get("PARLOR_ECS_TASK_DEFINITION", d.ecs_task_definition),
            ecs_container=env.get("PARLOR_ECS_CONTAINER", d.ecs_container),
            ecs_subnets=_list(env, "PARLOR_ECS_SUBNETS"),
            ecs_security_groups=_list(env, "PARLOR_ECS_SECURITY_GROUPS"),
            reminder_lead_minutes=_int(env, "PARLOR_REMINDER_LEAD_MINUTES", d.reminder_lead_minutes),
            host_reminder_minutes=_int(env, "PARLOR_HOST_REMINDER_MINUTES", d.host_reminder_minutes),
            sns_apns_arn=env.get("PARLOR_SNS_APNS_ARN", d.sns_apns_arn),
            sns_fcm_arn=env.get("PARLOR_SNS_FCM_ARN", d.sns_fcm_arn),
            fanout_page_size=_int(env, "PARLOR_FANOUT_PAGE_SIZE", d.fanout_page_size),
            send_batch_size=_int(env, "PARLOR_SEND_BATCH_SIZE", d.send_batch_size),
            stripe_api_key=env.get("PARLOR_STRIPE_API_KEY", d.stripe_api_key),
            stripe_webhook_secret=env.get("PARLOR_STRIPE_WEBHOOK_SECRET", d.stripe_webhook_secret),
            stripe_api_base=env.get("PARLOR_STRIPE_API_BASE", d.stripe_api_base),
            platform_fee_bps=_int(env, "PARLOR_PLATFORM_FEE_BPS", d.platform_fee_bps),
            app_return_url=env.get("PARLOR_APP_RETURN_URL", d.app_return_url),
            feed_following_limit=_int(env, "PARLOR_FEED_FOLLOWING_LIMIT", d.feed_following_limit),
        )

    def table_name(self, short_name: str) -> str:
        return f"{self.table_prefix}-{short_name}"

    def queue_name(self, short_name: str) -> str:
        """SQS queues share the prefix; each has a dead-letter queue named ``<name>-dlq``."""
        return f"{self.table_prefix}-{short_name}"


def remote_values(env: Mapping[str, str]) -> dict[str, str]:
    """On AWS, values that are not plain environment: the secrets (one Secrets Manager JSON
    whose keys are named like the variables) and the WebSocket management URL (an SSM
    parameter, since the Lambdas cannot reference their own WebSocket API). Read once."""
    values: dict[str, str] = {}
    if env.get("PARLOR_SECRETS_ARN"):
        import boto3

        secret = boto3.client("secretsmanager").get_secret_value(SecretId=env["PARLOR_SECRETS_ARN"])["SecretString"]
        values.update({k: str(v) for k, v in json.loads(secret).items() if k.startswith("PARLOR_")})
    if env.get("PARLOR_WS_MANAGEMENT_URL_PARAM") and not env.get("PARLOR_WS_MANAGEMENT_URL"):
        values["PARLOR_WS_MANAGEMENT_URL"] = _parameter(env["PARLOR_WS_MANAGEMENT_URL_PARAM"])
        # Clients connect to the same WebSocket stage the management API posts to.
        values.setdefault("PARLOR_REALTIME_URL", values["PARLOR_WS_MANAGEMENT_URL"].replace("https://", "wss://", 1))
    if env.get("PARLOR_API_URL_PARAM") and not env.get("PARLOR_API_URL"):
        values["PARLOR_API_URL"] = _parameter(env["PARLOR_API_URL_PARAM"])
    return values


def _parameter(name: str) -> str:
    import boto3

    return str(boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = dict(os.environ)
    env.update(remote_values(env))
    return Settings.from_env(env)
