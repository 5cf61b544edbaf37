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
