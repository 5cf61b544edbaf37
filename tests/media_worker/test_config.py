"""The worker's settings: read once from the environment (the contract's variable names),
flags override, and a missing or malformed value is an error that names its variable."""

from __future__ import annotations

import os

import pytest

from media_worker.config import ConfigError, WorkerConfig
from parlor_contract.worker import WorkerEnv
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No worker variable from the shell, but the two keys every worker needs."""
    for variable in WorkerEnv:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(WorkerEnv.SERVICE_SECRET, SECRET)
    monkeypatch.setenv(WorkerEnv.TOKEN_PUBLIC_KEY, PUBLIC_KEY)
    return monkeypatch


def test_every_setting_comes_from_a_variable_the_contract_names():
    assert {field.validation_alias for field in WorkerConfig.model_fields.values()} == set(WorkerEnv)


def test_settings_are_read_from_the_environment(clean_env):
    for variable, value in {WorkerEnv.SPACE_ID: "S1", WorkerEnv.PORT: "9100", WorkerEnv.HEARTBEAT_SECONDS: "0.5",
                            WorkerEnv.SEND_PATH: "naive", WorkerEnv.SERVICE_SECRET: "s3cret" * 6, WorkerEnv.PUBLIC_HOST: "203.0.113.9",
                            WorkerEnv.JITTER_FRAMES: "5"}.items():
        clean_env.setenv(variable, value)
    config = WorkerConfig.load([])
    assert (config.space_id, config.port, config.heartbeat_seconds, config.send_path) == ("S1", 9100, 0.5, "naive")
    assert (config.service_secret, config.jitter_frames, config.url) == ("s3cret" * 6, 5, "http://203.0.113.9:9100")
    assert "s3cret" not in repr(config)


def test_the_api_reaches_the_worker_at_its_private_host_where_it_has_one(clean_env):
    clean_env.setenv(WorkerEnv.SPACE_ID, "S1")
    clean_env.setenv(WorkerEnv.PUBLIC_HOST, "203.0.113.9")
    clean_env.setenv(WorkerEnv.PRIVATE_HOST, "10.0.1.25")
    config = WorkerConfig.load()
    assert (config.url, config.public_host) == ("http://10.0.1.25:9000", "203.0.113.9")


def test_defaults(clean_env):
    clean_env.setenv(WorkerEnv.SPACE_ID, "S1")
    config = WorkerConfig.load()
    assert (config.bind_host, config.port, config.send_path, config.jitter_prefetch, config.empty_grace_seconds) == (
        "127.0.0.1", 9000, "batch", 0, 120.0)
    assert (config.batch_impl, config.udp_port, config.mix_on_arrival) == ("auto", 0, True)
    assert config.processes == len(os.sched_getaffinity(0))  # a Fargate task's vCPUs
    assert (config.connect_timeout_seconds, config.consent_timeout_seconds) == (20.0, 30.0)
    assert config.url_for(41234) == "http://127.0.0.1:41234"  # the port bound when PORT is 0


def test_flags_override_their_variables(clean_env):
    clean_env.setenv(WorkerEnv.SPACE_ID, "FROMENV")
    clean_env.setenv(WorkerEnv.PORT, "9100")
    config = WorkerConfig.load(["--space-id", "FROMFLAG", "--port", "9200", "--bind-host", "0.0.0.0",
                                "--public-host", "198.51.100.7"])
    assert (config.space_id, config.port, config.bind_host, config.public_host) == ("FROMFLAG", 9200, "0.0.0.0", "198.51.100.7")


@pytest.mark.parametrize(("env", "argv", "message"), [
    ({}, [], "PARLOR_SPACE_ID (or --space-id) is required"),
    ({WorkerEnv.SPACE_ID: ""}, [], "PARLOR_SPACE_ID (or --space-id) is required"),
    ({WorkerEnv.SPACE_ID: "S1", WorkerEnv.PORT: "nine"}, [], "PARLOR_MEDIA_PORT: Input should be a valid integer"),
    ({WorkerEnv.SPACE_ID: "S1", WorkerEnv.HEARTBEAT_SECONDS: "soon"}, [], "PARLOR_HEARTBEAT_SECONDS: Input should be a valid number"),
    ({WorkerEnv.SPACE_ID: "S1", WorkerEnv.SEND_PATH: "quick"}, [], "PARLOR_MEDIA_SEND_PATH: Input should be 'batch', 'fast' or 'naive'"),
    ({WorkerEnv.SPACE_ID: "S1", WorkerEnv.PROCESSES: "0"}, [], "PARLOR_MEDIA_PROCESSES: Input should be greater than or equal to 1"),
    ({WorkerEnv.SPACE_ID: "S1"}, ["--port", "70000"], "--port: Input should be less than or equal to 65535"),
])
def test_a_missing_or_malformed_setting_is_named(clean_env, env, argv, message):
    for variable, value in env.items():
        clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        WorkerConfig.load(argv)
    assert message in str(error.value)


@pytest.mark.parametrize(("env", "message"), [
    ({WorkerEnv.SERVICE_SECRET: ""}, "PARLOR_SERVICE_SECRET is not set"),
    ({WorkerEnv.SERVICE_SECRET: "dev-only-service-secret-0123456789abcdef"},
     "PARLOR_SERVICE_SECRET is a value published with Parlor's code"),
    ({WorkerEnv.SERVICE_SECRET: "set-me"}, "PARLOR_SERVICE_SECRET is a value published with Parlor's code"),
    ({WorkerEnv.SERVICE_SECRET: "please-change-me-before-deploying-0123456789"}, "PARLOR_SERVICE_SECRET is a placeholder"),
    ({WorkerEnv.SERVICE_SECRET: "s3cret"}, "PARLOR_SERVICE_SECRET is shorter than 32 characters"),
    ({WorkerEnv.TOKEN_PUBLIC_KEY: ""}, "PARLOR_MEDIA_TOKEN_PUBLIC_KEY is required"),
    ({WorkerEnv.TOKEN_PUBLIC_KEY: "not a key"}, "PARLOR_MEDIA_TOKEN_PUBLIC_KEY is not an Ed25519 public key (PEM)"),
])
def test_a_missing_or_weak_key_is_named_and_its_value_never_shown(clean_env, env, message):
    clean_env.setenv(WorkerEnv.SPACE_ID, "S1")
    for variable, value in env.items():
        clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        WorkerConfig.load()
    assert message in str(error.value)
    assert not [v for v in env.values() if len(v) > 3 and v in str(error.value)]
