"""The offline stack: each piece is a ``Component`` (a real process); ``Stack`` checks that
their ports are free, starts them in order, waits until each is ready, runs set-up hooks,
and stops them all in reverse (``local.supervisor`` restarts one that dies).

Each writes its log to ``<log_dir>/<name>.log``; what must survive a restart (moto's data,
the Stripe stand-in's, the generated secrets) is kept in ``<state_dir>``.

Adding a piece (WebSocket gateway, Stripe stand-in, scheduler clock) is one more
``Component`` in ``components()``, not a new script.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Mapping

from local import generated_secrets, turn
from local.logs import CONSOLE, last_words, log_tail

ROOT = Path(__file__).resolve().parent.parent
# The bucket of HLS streams, recordings and clips (parlor_contract.hls), made by local.bootstrap.
MEDIA_BUCKET = "parlor-local-media"
CDN_HEALTH_PATH = "/_parlor/health"  # local.cdn's (not imported: this module stays free of aiohttp)
WEB_HEALTH_PATH = "/_parlor/health"  # local.web's
RUN_DIR = ROOT / ".local-run"
log = logging.getLogger(__name__)
console = logging.getLogger(CONSOLE)
# Records of processes that do not survive a restart of the stack (media workers, WebSocket
# connections): not restored then, so the next join launches a worker instead of trusting a
# dead one's record. When moto alone restarts, those processes live on: all is restored.
VOLATILE_TABLES = ("media_workers", "connections")
# Set in the environment a set-up hook gets when its component restarts inside a running stack.
RESTARTED = "PARLOR_LOCAL_RESTARTED"


@dataclass(frozen=True)
class Ports:
    api: int = 8000
    ws: int = 8001
    moto: int = 5005
    stripe: int = 12111
    media_base: int = 9000
    turn: int = 3478
    cdn: int = 8003
    # The web client (local.web), and so the origin the API allows by default (CORS, ``PARLOR_CORS_ORIGINS``).
    web: int = 8080
    # The variable that moves each port.
    ENV: ClassVar[dict[str, str]] = {"api": "PARLOR_API_PORT", "ws": "PARLOR_WS_PORT", "moto": "PARLOR_MOTO_PORT",
                                     "stripe": "STRIPE_STANDIN_PORT", "media_base": "PARLOR_MEDIA_BASE_PORT",
                                     "turn": "PARLOR_TURN_PORT", "web": "PARLOR_WEB_PORT", "cdn": "PARLOR_CDN_PORT"}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        d = cls()
        return cls(**{name: int(env.get(variable) or getattr(d, name)) for name, variable in cls.ENV.items()})

    @classmethod
    def free(cls) -> Ports:
        """Free ports for tests that run the stack beside a developer's own."""
        return cls(api=free_port(), ws=free_port(), moto=free_port(), stripe=free_port(), media_base=free_media_base(),
                   turn=free_port(), cdn=free_port(), web=free_port())


@dataclass
class Component:
    name: str
    argv: list[str]
    ready_url: str | None = None
    url: str | None = None
    after_start: Callable[[dict[str, str]], None] | None = None
    # Every component logs to <log_dir>/<name>.log; kept for components that still say so.
    quiet: bool = False
    # The port it listens on and the variable that moves it, checked free before starting.
    port: int | None = None
    port_env: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class PortBusy(RuntimeError):
    """A port the stack needs is taken (often by another ``make run``)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_media_base(block: int = 100) -> int:
    """The first port of a block for media workers, below the kernel's ephemeral range (from
    32768 on Linux): there no outgoing connection takes a port between the launcher's check
    and the worker's bind, as it may with a base from ``free_port``. Random, so that test
    processes running side by side rarely pick overlapping blocks."""
    while True:
        base = random.randrange(20_000, 32_000 - block)
        if port_is_free(base):
            return base


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def check_ports(ports: Ports, parts: list[Component]) -> None:
    """Raise ``PortBusy`` naming the first port taken, who needs it and the variable that moves it."""
    claims = [(c.port, c.name, c.port_env or "") for c in parts if c.port is not None]
    for port, who, variable in [*claims, (ports.media_base, "media workers", Ports.ENV["media_base"])]:
        if not port_is_free(port):
            raise PortBusy(f"port {port} ({who}) is busy: is Parlor already running? "
                           f"Stop it, or move {who} with {variable}=<free port>")


def stack_env(ports: Ports, base: Mapping[str, str], secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every component gets: AWS pointed at moto, Parlor settings, and the
    stack's secrets (``local.generated_secrets``: the media-token key pair — the API signs,
    workers verify — the session and service secrets, the Stripe stand-in's key and webhook
    secret). Settings the caller's
    environment gives (``make run PARLOR_...=``) win over the local defaults."""
    from chalicelib.settings import Settings
    from local.bootstrap import LOCAL_EMAIL_SENDER, PLATFORM_ARNS

    generated = secrets if secrets is not None else generated_secrets.load_or_create(None)
    private_key, public_key = generated["media_token_private_key"], generated["media_token_public_key"]
    defaults = Settings.environment(
        stage="dev", table_prefix="parlor-local", media_launcher="local",
        jwt_secret=generated["jwt_secret"], service_secret=generated["service_secret"],
        # The Stripe stand-in, unless real Stripe test keys are given (README: "Payouts").
        stripe_api_base=f"http://127.0.0.1:{ports.stripe}", stripe_api_key=generated["stripe_api_key"],
        stripe_webhook_secret=generated["stripe_webhook_secret"],
        # Every local client, the e2e tests and benches included, signs up from 127.0.0.1.
        sign_ups_per_address=100_000,
        # A web client served in development may call the API from the browser.
        cors_origins=[f"http://127.0.0.1:{ports.web}", f"http://localhost:{ports.web}"],
        # Stripe's pages send web buyers and hosts back to the web client.
        web_url=f"http://127.0.0.1:{ports.web}",
        # moto's SES delivers nothing: the API logs each password-reset link instead.
        email_sender=LOCAL_EMAIL_SENDER, log_reset_links=True,
        media_bucket=MEDIA_BUCKET)
    wiring = Settings.environment(
        api_url=f"http://127.0.0.1:{ports.api}", media_base_port=ports.media_base,
        media_token_private_key=private_key, media_token_public_key=public_key,
        realtime_url=f"ws://127.0.0.1:{ports.ws}", ws_management_url=f"http://127.0.0.1:{ports.ws}/dev",
        sns_apns_arn=PLATFORM_ARNS["apns"], sns_fcm_arn=PLATFORM_ARNS["fcm"],
        # The TURN relay (when coturn is installed) checks the credentials the API mints with this secret.
        turn_urls=turn.urls(ports.turn) if turn.available() else [], turn_secret=generated["turn_secret"],
        # The CloudFront stand-in (local.cdn) checks what the API signs with this key.
        cdn_url=f"http://127.0.0.1:{ports.cdn}", cdn_key_pair_id=generated["cdn_key_pair_id"],
        cdn_private_key=generated["cdn_private_key"])
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


def components(ports: Ports, state_dir: Path = RUN_DIR / "state") -> list[Component]:
    py = sys.executable
    return [
        Component(
            "moto",
            [py, "-m", "local.moto_server", "--port", str(ports.moto), "--state", str(state_dir / "moto.json")],
            ready_url=f"http://127.0.0.1:{ports.moto}/moto-api/",
            url=f"http://127.0.0.1:{ports.moto}",
            after_start=bootstrap,
            quiet=True,
            port=ports.moto, port_env=Ports.ENV["moto"],
        ),
        Component(
            "api",
            [py, "-m", "local.api", "--port", str(ports.api)],
            ready_url=f"http://127.0.0.1:{ports.api}/openapi.json",
            url=f"http://127.0.0.1:{ports.api}",
            port=ports.api, port_env=Ports.ENV["api"],
        ),
        Component("clock", [py, "-m", "local.clock"]),
        Component(
            "stripe",
            [py, "-m", "local.stripe_standin", "--port", str(ports.stripe), "--state", str(state_dir / "stripe.json")],
            ready_url=f"http://127.0.0.1:{ports.stripe}/v1/accounts/ready-check",
            url=f"http://127.0.0.1:{ports.stripe}",
            port=ports.stripe, port_env=Ports.ENV["stripe"],
        ),
        Component(
            "cdn",
            [py, "-m", "local.cdn", "--port", str(ports.cdn)],
            ready_url=f"http://127.0.0.1:{ports.cdn}{CDN_HEALTH_PATH}",
            url=f"http://127.0.0.1:{ports.cdn}",
            port=ports.cdn, port_env=Ports.ENV["cdn"],
        ),
        Component(
            "ws",
            [py, "-m", "local.ws_gateway", "--port", str(ports.ws)],
            ready_url=f"http://127.0.0.1:{ports.ws}/dev/@connections/ready-check",
            url=f"ws://127.0.0.1:{ports.ws}",
            port=ports.ws, port_env=Ports.ENV["ws"],
        ),
        Component(
            "web",
            [py, "-m", "local.web", "--port", str(ports.web)],
            ready_url=f"http://127.0.0.1:{ports.web}{WEB_HEALTH_PATH}",
            url=f"http://127.0.0.1:{ports.web}/",
            port=ports.web, port_env=Ports.ENV["web"],
        ),
        *([Component(
            "turn",
            [py, "-m", "local.turn", "--port", str(ports.turn)],
            url=f"turn:127.0.0.1:{ports.turn}",
            after_start=lambda env: turn.wait_until_listening(ports.turn),
            port=ports.turn, port_env=Ports.ENV["turn"],
        )] if turn.available() else []),  # without coturn (no `make`), the stack runs without a relay
    ]


def bootstrap(env: dict[str, str]) -> None:
    """Create tables and queues in the fresh (in-memory) moto server, then fill them with
    what it held when it last stopped (``local.moto_server``)."""
    from chalicelib.settings import Settings
    from local.moto_server import BOOTSTRAP_ACCESS_KEY, RESTORE_PATH

    done = subprocess.run([sys.executable, "-m", "local.bootstrap"], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "AWS_ACCESS_KEY_ID": BOOTSTRAP_ACCESS_KEY})
    if done.returncode != 0:
        raise RuntimeError(f"bootstrap failed ({exit_reason(done.returncode)}): {last_words(done.stderr.splitlines()[-10:])}")
    prefix = env.get(Settings.env_name("table_prefix")) or Settings.model_fields["table_prefix"].default
    volatile = [] if env.get(RESTARTED) else [f"{prefix}-{name}" for name in VOLATILE_TABLES]
    request = urllib.request.Request(env["AWS_ENDPOINT_URL"] + RESTORE_PATH, method="POST",
                                     data=json.dumps({"skip_tables": volatile}).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            log.info("restored the saved state", extra={"restored": json.loads(reply.read())})
    except urllib.error.HTTPError as refused:
        raise RuntimeError(f"could not restore the saved state: {refused.read().decode(errors='replace')}") from refused


class Stack:
    def __init__(self, ports: Ports, env: Mapping[str, str] | None = None, log_dir: Path | None = None,
                 state_dir: Path | None = None):
        self.ports = ports
        self.log_dir = log_dir or RUN_DIR
        # Only a caller that names where the data lives shares it (``make run``: .local-run/state);
        # others (tests, benchmarks) get their own, never mixing into a developer's data.
        self.state_dir = state_dir or (log_dir / "state" if log_dir else Path(tempfile.mkdtemp(prefix="parlor-state-")))
        self.env = stack_env(ports, os.environ if env is None else env, generated_secrets.load_or_create(self.state_dir))
        self.components = components(ports, self.state_dir)
        # Set on Ctrl-C: a component still starting gives up waiting.
        self.stopping = False

    def log_path(self, component: Component) -> Path:
        return self.log_dir / f"{component.name}.log"

    def check_ports(self) -> None:
        check_ports(self.ports, self.components)

    def start(self, timeout: float = 60.0) -> None:
        self.check_ports()
        try:
            for component in self.components:
                self._start(component, timeout)
                console.info("%-7s %s", component.name, component.url or "running",
                             extra={"component": component.name, "url": component.url})
        except BaseException:
            self.stop()
            raise

    def end_leftovers(self, component: Component) -> None:
        """End what a component that exited left behind (e.g. the API's media workers): they
        would hold its ports, and nothing would stop them later. Call it as soon as the exit
        is noticed, while the process group's id cannot have been reused."""
        if component.process is not None:
            _end_group(component.process, timeout=5.0)

    def restart(self, component: Component, timeout: float = 60.0) -> None:
        """Start a component that exited (and whose leftovers were ended) again."""
        try:
            self._start(component, timeout, restarted=True)
        except BaseException:
            if component.process is not None:
                _end_group(component.process, timeout=5.0)
            raise

    def _start(self, component: Component, timeout: float, restarted: bool = False) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(component), "ab") as out:  # the child keeps its own copy of the descriptor
            component.process = subprocess.Popen(
                component.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        if component.ready_url:
            try:
                wait_until_ready(component, timeout, lambda: self.stopping)
            except (RuntimeError, TimeoutError) as exc:
                last = last_words(log_tail(self.log_path(component)))
                raise RuntimeError(f"{exc}" + (f"; it last logged: {last}" if last else "")) from exc
        if component.after_start:
            component.after_start({**self.env, RESTARTED: "1"} if restarted else self.env)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        for component in reversed(self.components):
            # One that exited had its leftovers ended when its exit was noticed.
            if component.process is not None and component.process.poll() is None:
                _end_group(component.process, timeout)

    def failed(self) -> list[str]:
        return [c.name for c in self.components if c.process is not None and c.process.poll() is not None]

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _end_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the process's group (its children too), SIGKILL after ``timeout``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # nothing left of it
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the leader may be gone while its children linger
    except ProcessLookupError:
        pass
    process.wait()


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def wait_until_ready(component: Component, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> None:
    deadline = time.monotonic() + timeout
    assert component.ready_url and component.process
    while time.monotonic() < deadline:
        if component.process.poll() is not None:
            raise RuntimeError(f"{component.name} {exit_reason(component.process.returncode)} while starting")
        if cancelled():
            raise RuntimeError(f"stopped while {component.name} was starting")
        try:
            with urllib.request.urlopen(component.ready_url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{component.name} not ready after {timeout:.0f}s ({component.ready_url})")
