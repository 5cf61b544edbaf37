"""Settings are read once from the environment, with safe defaults."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.settings import Settings


def test_defaults_match_the_design():
    s = Settings.from_env({})
    assert s.host_min_followers == 600 and s.max_scheduled_per_host == 10 and s.schedule_horizon_days == 30
    assert s.table_name("users") == "parlor-dev-users" and s.queue_name("notifications") == "parlor-dev-notifications"


def test_environment_overrides():
    s = Settings.from_env({"PARLOR_HOST_MIN_FOLLOWERS": "2", "PARLOR_TABLE_PREFIX": "x", "AWS_REGION": "eu-west-1",
                           "PARLOR_ECS_SUBNETS": "subnet-a, subnet-b"})
    assert s.host_min_followers == 2 and s.table_name("users") == "x-users" and s.region == "eu-west-1"
    assert s.ecs_subnets == ("subnet-a", "subnet-b")


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings.from_env({}).host_min_followers = 1  # type: ignore[misc]


def test_secrets_and_the_management_url_are_read_from_aws_once(aws):
    import json

    import boto3

    from chalicelib.settings import remote_values

    arn = boto3.client("secretsmanager").create_secret(
        Name="parlor-test-secrets",
        SecretString=json.dumps({"PARLOR_JWT_SECRET": "from-secrets-manager", "PARLOR_SERVICE_SECRET": "svc", "OTHER": "x"}),
    )["ARN"]
    boto3.client("ssm").put_parameter(Name="/parlor/test/ws-url", Value="https://abc.execute-api.us-east-1.amazonaws.com/api",
                                      Type="String")
    boto3.client("ssm").put_parameter(Name="/parlor/test/api-url", Value="https://rest.example/api", Type="String")
    values = remote_values({"PARLOR_SECRETS_ARN": arn, "PARLOR_WS_MANAGEMENT_URL_PARAM": "/parlor/test/ws-url",
                            "PARLOR_API_URL_PARAM": "/parlor/test/api-url"})
    assert values == {"PARLOR_JWT_SECRET": "from-secrets-manager", "PARLOR_SERVICE_SECRET": "svc",
                      "PARLOR_WS_MANAGEMENT_URL": "https://abc.execute-api.us-east-1.amazonaws.com/api",
                      "PARLOR_REALTIME_URL": "wss://abc.execute-api.us-east-1.amazonaws.com/api",
                      "PARLOR_API_URL": "https://rest.example/api"}
    settings = Settings.from_env({**values, "PARLOR_TABLE_PREFIX": "p"})
    assert settings.jwt_secret == "from-secrets-manager" and settings.ws_management_url.startswith("https://abc")
    assert remote_values({}) == {}
