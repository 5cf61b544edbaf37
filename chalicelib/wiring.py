"""The single place that builds services with real clients.

Built once per Lambda container (cold start) and reused; tests build their own with
``build_services`` and install it with ``use_services``.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from pynamodb.connection import Connection

from chalicelib.clock import Clock, SystemClock
from chalicelib.services.accounts import AccountService
from chalicelib.services.social import SocialGraph
from chalicelib.services.tokens import SessionTokens
from chalicelib.settings import Settings, get_settings


@dataclass
class Services:
    settings: Settings
    clock: Clock
    tokens: SessionTokens
    accounts: AccountService
    social: SocialGraph


def build_services(settings: Settings, clock: Clock | None = None, hasher: PasswordHasher | None = None) -> Services:
    clock = clock or SystemClock()
    connection = Connection(region=settings.region)
    tokens = SessionTokens(settings.jwt_secret, settings.token_ttl_seconds, clock)
    return Services(
        settings=settings,
        clock=clock,
        tokens=tokens,
        accounts=AccountService(connection, clock, tokens, hasher or PasswordHasher()),
        social=SocialGraph(connection, clock),
    )


_services: Services | None = None


def services() -> Services:
    global _services
    if _services is None:
        _services = build_services(get_settings())
    return _services


def use_services(replacement: Services | None) -> None:
    """Install a container (tests), or None to rebuild from the environment on next use."""
    global _services
    _services = replacement
