"""Settings: each declared once with its environment variable, validated, and on AWS
completed from Secrets Manager and SSM."""

from __future__ import annotations

import json

import boto3
import pytest
from pydantic import ValidationError

from chalicelib.settings import Settings


@pytest.fixture
def clean_env(monkeypatch):
    """No PARLOR_ variables from the developer's shell."""
    import os

    for name in [n for n in os.environ if n.startswith("PARLOR_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_match_the_design(clean_env):
    s = Settings()
    assert s.host_min_followers == 600 and s.max_scheduled_per_host == 10 and s.schedule_horizon_days == 30
    assert s.platform_fee_bps == 300
    assert s.table_name("users") == "parlor-dev-users" and s.queue_name("notifications") == "parlor-dev-notifications"


def test_each_setting_is_read_from_its_declared_variable(clean_env):
    clean_env.setenv("PARLOR_HOST_MIN_FOLLOWERS", "2")
    clean_env.setenv("PARLOR_TABLE_PREFIX", "x")
    clean_env.setenv("PARLOR_ECS_SUBNETS", "subnet-a, subnet-b")
    s = Settings()
    assert s.host_min_followers == 2 and s.table_name("users") == "x-users"
    assert s.ecs_subnets == ("subnet-a", "subnet-b")


def test_an_empty_variable_counts_as_unset(clean_env):
    clean_env.setenv("PARLOR_HOST_MIN_FOLLOWERS", "")
    clean_env.setenv("PARLOR_STRIPE_API_BASE", "")
    s = Settings()
    assert s.host_min_followers == 600 and s.stripe_api_base == ""


def test_every_setting_has_one_environment_variable_and_the_names_round_trip(clean_env):
    names = {field: Settings.env_name(field) for field in Settings.model_fields}
    assert len(set(names.values())) == len(names)
    assert names["jwt_secret"] == "PARLOR_JWT_SECRET"
    for name, value in Settings.environment(platform_fee_bps=150, ecs_security_groups=("sg-1", "sg-2")).items():
        clean_env.setenv(name, value)
    s = Settings()
    assert s.platform_fee_bps == 150 and s.ecs_security_groups == ("sg-1", "sg-2")
    with pytest.raises(KeyError):
        Settings.environment(no_such_setting=1)


def test_a_malformed_value_is_refused_naming_the_setting(clean_env):
    clean_env.setenv("PARLOR_HOST_MIN_FOLLOWERS", "six hundred")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "host_min_followers" in str(refused.value)


def test_secrets_and_the_urls_are_read_from_aws_and_win_over_the_environment(aws, clean_env):
    arn = boto3.client("secretsmanager").create_secret(
        Name="parlor-test-secrets",
        SecretString=json.dumps({"PARLOR_JWT_SECRET": "from-secrets-manager", "PARLOR_SERVICE_SECRET": "svc", "OTHER": "x"}),
    )["ARN"]
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/parlor/test/ws-url", Value="https://abc.execute-api.us-east-1.amazonaws.com/api", Type="String")
    ssm.put_parameter(Name="/parlor/test/api-url", Value="https://rest.example/api", Type="String")
    for name, value in Settings.environment(secrets_arn=arn, ws_management_url_param="/parlor/test/ws-url",
                                            api_url_param="/parlor/test/api-url", jwt_secret="from-the-environment",
                                            table_prefix="p").items():
        clean_env.setenv(name, value)
    s = Settings()
    assert s.jwt_secret == "from-secrets-manager" and s.service_secret == "svc" and s.table_prefix == "p"
    assert s.ws_management_url == "https://abc.execute-api.us-east-1.amazonaws.com/api"
    assert s.realtime_url == "wss://abc.execute-api.us-east-1.amazonaws.com/api"
    assert s.api_url == "https://rest.example/api"
    # A URL given in the environment is not looked up.
    clean_env.setenv("PARLOR_API_URL", "https://given.example")
    assert Settings().api_url == "https://given.example"


def test_the_web_origin_is_read_from_aws_and_allowed_beside_the_other_origins(aws, clean_env):
    boto3.client("ssm").put_parameter(Name="/parlor/test/web-url", Value="https://web.example", Type="String")
    for name, value in Settings.environment(web_url_param="/parlor/test/web-url",
                                            cors_origins=["https://more.example"]).items():
        clean_env.setenv(name, value)
    s = Settings()
    assert s.web_url == "https://web.example" and s.cors_origins == ("https://web.example", "https://more.example")
    clean_env.setenv("PARLOR_WEB_URL", "https://given.example")
    assert Settings().web_url == "https://given.example"
    assert Settings().cors_origins == ("https://more.example",)


def test_turn_settings_default_to_no_relay_and_read_a_comma_list(clean_env):
    s = Settings()
    assert s.turn_urls == () and s.turn_secret == "" and s.turn_ttl_seconds == 600
    clean_env.setenv("PARLOR_TURN_URLS", "turn:t.example:3478?transport=udp, turn:t.example:3478?transport=tcp")
    assert Settings().turn_urls == ("turn:t.example:3478?transport=udp", "turn:t.example:3478?transport=tcp")


def test_the_turn_secret_is_read_from_the_relays_own_secret(aws, clean_env):
    main = boto3.client("secretsmanager").create_secret(
        Name="parlor-test-main-secrets", SecretString=json.dumps({"PARLOR_SERVICE_SECRET": "svc"}))["ARN"]
    relay = boto3.client("secretsmanager").create_secret(
        Name="parlor-test-turn-secret", SecretString=json.dumps({"PARLOR_TURN_SECRET": "generated-for-coturn"}))["ARN"]
    for name, value in Settings.environment(secrets_arn=main, turn_secret_arn=relay).items():
        clean_env.setenv(name, value)
    s = Settings()
    assert s.turn_secret == "generated-for-coturn" and s.service_secret == "svc"


def test_secrets_have_no_default(clean_env):
    """Issue 15: the defaults were published with the code; now an unset secret is empty, and
    the API refuses to start with it (tests/security/test_secrets.py)."""
    s = Settings()
    assert (s.jwt_secret, s.service_secret, s.stripe_api_key, s.stripe_webhook_secret, s.media_token_seed) == ("",) * 5


def test_the_generated_secrets_are_read_from_each_of_their_secrets(aws, clean_env):
    client = boto3.client("secretsmanager")
    arns = [client.create_secret(Name=f"parlor-test-generated-{name}", SecretString=json.dumps({variable: f"generated-{name}"}))["ARN"]
            for name, variable in (("jwt", "PARLOR_JWT_SECRET"), ("service", "PARLOR_SERVICE_SECRET"),
                                   ("seed", "PARLOR_MEDIA_TOKEN_SEED"))]
    stripe = client.create_secret(Name="parlor-test-stripe", SecretString=json.dumps(
        {"PARLOR_STRIPE_API_KEY": "sk-set-by-a-person", "PARLOR_STRIPE_WEBHOOK_SECRET": "whsec-set-by-a-person"}))["ARN"]
    for name, value in Settings.environment(secrets_arn=stripe, generated_secret_arns=arns).items():
        clean_env.setenv(name, value)
    s = Settings()
    assert (s.jwt_secret, s.service_secret, s.media_token_seed) == ("generated-jwt", "generated-service", "generated-seed")
    assert (s.stripe_api_key, s.stripe_webhook_secret) == ("sk-set-by-a-person", "whsec-set-by-a-person")
