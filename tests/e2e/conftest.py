"""The local stack as real processes, once per test session, on free ports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from local.stack import Ports, Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(tmp_path_factory, "e2e")


def running_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str) -> Iterator[Stack]:
    """The stack on free ports, its tables named ``parlor-<name>``, with ``PARLOR_...`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update({"PARLOR_TABLE_PREFIX": f"parlor-{name}", "PARLOR_HOST_MIN_FOLLOWERS": "2", **settings})
    log_dir: Path = tmp_path_factory.mktemp(f"{name}-stack-logs")
    running = Stack(Ports.free(), env=env, log_dir=log_dir)
    running.start(timeout=90)
    try:
        yield running
    finally:
        running.stop()
