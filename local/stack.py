"""The offline stack: each piece is a ``Component`` (a real process); ``Stack`` starts them
in order, waits until each is ready, runs set-up hooks, and stops them all in reverse.

Adding a piece (WebSocket gateway, Stripe stand-in, scheduler clock) is one more
``Component`` in ``components()``, not a new script.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from local import turn

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ports:
    api: int = 8000
    ws: int = 8001
    moto: int = 5005
    stripe: int = 12111
    media_base: int = 9000
    turn: int = 3478

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        d = cls()
        return cls(
            api=int(env.get("PARLOR_API_PORT", d.api)),
            ws=int(env.get("PARLOR_WS_PORT", d.ws)),
            moto=int(env.get("PARLOR_MOTO_PORT", d.moto)),
            stripe=int(env.get("STRIPE_STANDIN_PORT", d.stripe)),
            media_base=int(env.get("PARLOR_MEDIA_BASE_PORT", d.media_base)),
            turn=int(env.get("PARLOR_TURN_PORT", d.turn)),
        )

    @classmethod
    def free(cls) -> Ports:
        """Free ports for tests that run the stack beside a developer's own."""
        return cls(api=free_port(), ws=free_port(), moto=free_port(), stripe=free_port(), media_base=free_port(),
                   turn=free_port())


@dataclass
class Component:
    name: str
    argv: list[str]
    ready_url: str | None = None
    url: str | None = None
    after_start: Callable[[dict[str, str]], None] | None = None
    # Chatty components log to .local-run/<name>.log instead of the console.
    quiet: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_env(ports: Ports, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every component gets: AWS pointed at moto, Parlor settings, and a
    media-token key pair made for this run (the API signs, workers verify). Settings the
    caller's environment gives (``make run PARLOR_...=``) win over the local defaults."""
    from chalicelib.services.tokens import generate_media_keypair
    from chalicelib.settings import Settings
    from local.bootstrap import PLATFORM_ARNS

    private_key, public_key = generate_media_keypair()
    defaults = Settings.environment(
        stage="dev", table_prefix="parlor-local", media_launcher="local",
        # The Stripe stand-in, unless real Stripe test keys are given (README: "Payouts").
        stripe_api_base=f"http://127.0.0.1:{ports.stripe}", stripe_api_key="sk_test_local",
        stripe_webhook_secret="whsec_local")
    wiring = Settings.environment(
        api_url=f"http://127.0.0.1:{ports.api}", media_base_port=ports.media_base,
        media_token_private_key=private_key, media_token_public_key=public_key,
        realtime_url=f"ws://127.0.0.1:{ports.ws}", ws_management_url=f"http://127.0.0.1:{ports.ws}/dev",
        sns_apns_arn=PLATFORM_ARNS["apns"], sns_fcm_arn=PLATFORM_ARNS["fcm"],
        # The TURN relay (when coturn is installed) checks the credentials the API mints with this secret.
        turn_urls=turn.urls(ports.turn) if turn.available() else [], turn_secret=secrets.token_urlsafe(32))
    env = {**defaults, **base, **wiring}
    env.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports.moto}",
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "PYTHONUNBUFFERED": "1",
        # The stand-in signs its webhooks with the secret the API checks them with.
        "STRIPE_WEBHOOK_URL": f"http://127.0.0.1:{ports.api}/v1/stripe/webhook",
        "STRIPE_WEBHOOK_SECRET": env[Settings.env_name("stripe_webhook_secret")],
    })
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    return env


def components(ports: Ports) -> list[Component]:
    py = sys.executable
    return [
        Component(
            "moto",
            [py, "-m", "local.moto_server", "--port", str(ports.moto)],
            ready_url=f"http://127.0.0.1:{ports.moto}/moto-api/",
            url=f"http://127.0.0.1:{ports.moto}",
            after_start=bootstrap,
            quiet=True,
        ),
        Component(
            "api",
            [py, "-m", "local.api", "--port", str(ports.api)],
            ready_url=f"http://127.0.0.1:{ports.api}/openapi.json",
            url=f"http://127.0.0.1:{ports.api}",
        ),
        Component("clock", [py, "-m", "local.clock"]),
        Component(
            "stripe",
            [py, "-m", "local.stripe_standin", "--port", str(ports.stripe)],
            ready_url=f"http://127.0.0.1:{ports.stripe}/v1/accounts/ready-check",
            url=f"http://127.0.0.1:{ports.stripe}",
        ),
        Component(
            "ws",
            [py, "-m", "local.ws_gateway", "--port", str(ports.ws)],
            ready_url=f"http://127.0.0.1:{ports.ws}/dev/@connections/ready-check",
            url=f"ws://127.0.0.1:{ports.ws}",
        ),
        *([Component(
            "turn",
            [py, "-m", "local.turn", "--port", str(ports.turn)],
            url=f"turn:127.0.0.1:{ports.turn}",
            after_start=lambda env: turn.wait_until_listening(ports.turn),
            quiet=True,
        )] if turn.available() else []),  # without coturn (no `make`), the stack runs without a relay
    ]


def bootstrap(env: dict[str, str]) -> None:
    """Create tables and queues in the fresh (in-memory) moto server."""
    subprocess.run([sys.executable, "-m", "local.bootstrap"], cwd=ROOT, env=env, check=True)


class Stack:
    def __init__(self, ports: Ports, env: Mapping[str, str] | None = None, log_dir: Path | None = None):
        self.ports = ports
        self.env = stack_env(ports, os.environ if env is None else env)
        self.components = components(ports)
        self.log_dir = log_dir

    def start(self, timeout: float = 60.0) -> None:
        try:
            for component in self.components:
                self._start(component, timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, component: Component, timeout: float) -> None:
        out = None
        log_dir = self.log_dir or (ROOT / ".local-run" if component.quiet else None)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            out = open(log_dir / f"{component.name}.log", "ab")
        component.process = subprocess.Popen(
            component.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        if component.ready_url:
            wait_until_ready(component, timeout)
        if component.after_start:
            component.after_start(self.env)
        log.info("ready", extra={"component": component.name, "url": component.url})

    def stop(self, timeout: float = 10.0) -> None:
        for component in reversed(self.components):
            proc = component.process
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def failed(self) -> list[str]:
        return [c.name for c in self.components if c.process is not None and c.process.poll() is not None]

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_ready(component: Component, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert component.ready_url and component.process
    while time.monotonic() < deadline:
        if component.process.poll() is not None:
            raise RuntimeError(f"{component.name} exited with {component.process.returncode} while starting")
        try:
            with urllib.request.urlopen(component.ready_url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{component.name} not ready after {timeout:.0f}s ({component.ready_url})")
