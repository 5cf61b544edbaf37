"""The local stack's secrets are made once per state dir and kept; a new one is added to an old dir."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from local import generated_secrets


def test_secrets_are_made_once_and_kept_readable_by_the_owner_only(tmp_path: Path):
    first = generated_secrets.load_or_create(tmp_path)
    again = generated_secrets.load_or_create(tmp_path)
    assert again == first
    assert {"jwt_secret", "service_secret", "turn_secret", "media_token_private_key", "stripe_api_key",
            "stripe_webhook_secret"} <= set(first)
    assert stat.S_IMODE((tmp_path / generated_secrets.FILE).stat().st_mode) == 0o600


def test_a_state_dir_from_before_the_turn_secret_keeps_its_secrets_and_gains_the_new_one(tmp_path: Path):
    old = generated_secrets.load_or_create(tmp_path)
    del old["turn_secret"]
    (tmp_path / generated_secrets.FILE).write_text(json.dumps(old))

    upgraded = generated_secrets.load_or_create(tmp_path)

    assert {k: upgraded[k] for k in old} == old  # sessions and media tokens still verify
    assert upgraded["turn_secret"]
    assert generated_secrets.load_or_create(tmp_path) == upgraded  # and it was saved


def test_the_stack_runs_with_secrets_the_api_accepts(tmp_path: Path):
    """The API refuses missing, published and short secrets (chalicelib.settings.check_secrets):
    every one the local stack hands it is generated, the Stripe stand-in's too."""
    from chalicelib.services.tokens import media_keypair
    from chalicelib.settings import Settings, check_secrets
    from local.stack import Ports, stack_env

    env = stack_env(Ports(), {}, generated_secrets.load_or_create(tmp_path))
    settings = Settings(**{name: env[Settings.env_name(name)] for name in Settings.model_fields if Settings.env_name(name) in env})
    check_secrets(settings)
    assert media_keypair(settings)[1] == settings.media_token_public_key
    assert settings.stripe_api_key.startswith("sk_test_")  # the stand-in takes any "sk_" key
    assert env["STRIPE_WEBHOOK_SECRET"] == settings.stripe_webhook_secret  # the stand-in signs with what the API checks


def test_a_state_dir_from_before_the_cdn_gains_an_rsa_signing_key_and_a_key_pair_id(tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    old = generated_secrets.load_or_create(tmp_path)
    del old["cdn_private_key"], old["cdn_key_pair_id"]
    (tmp_path / generated_secrets.FILE).write_text(json.dumps(old))

    upgraded = generated_secrets.load_or_create(tmp_path)

    assert {k: upgraded[k] for k in old} == old
    key = serialization.load_pem_private_key(upgraded["cdn_private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048  # what CloudFront's key groups take
    assert upgraded["cdn_private_key"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert upgraded["cdn_key_pair_id"].startswith("K") and upgraded["cdn_key_pair_id"].isupper()
    assert upgraded["cdn_key_pair_id"].isalnum() and len(upgraded["cdn_key_pair_id"]) == 14
    assert generated_secrets.load_or_create(tmp_path) == upgraded
