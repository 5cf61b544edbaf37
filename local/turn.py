"""The local TURN relay: Debian's coturn (``turnserver``) on loopback, checking the short-lived
credentials the API mints (TURN REST API, ``use-auth-secret``) with the secret it shares with
the API (``PARLOR_TURN_SECRET``, made for each run of the stack).

``python -m local.turn --port 3478`` runs it as a child and re-emits each of its log lines as
a JSON object, like every other local process. ``make run`` and ``make test`` install coturn
when it is missing.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BINARY = "turnserver"
INSTALL = "apt-get install -y coturn"
REALM = "parlor.local"
# Relayed addresses come from this UDP range: a few are enough on a laptop.
RELAY_PORTS = (49160, 49199)
# coturn's lines start with its uptime in seconds, then sometimes a level ("0: : ERROR: ...").
_LINE = re.compile(r"^\d+: [^:]*: (?:(ERROR|WARNING|CONFIG WARNING): )?")
log = logging.getLogger("local.turn")


def available() -> bool:
    return shutil.which(BINARY) is not None


def urls(port: int, host: str = "127.0.0.1") -> list[str]:
    """What clients are told: the relay over UDP, and over TCP for networks that block UDP."""
    return [f"turn:{host}:{port}?transport=udp", f"turn:{host}:{port}?transport=tcp"]


def argv(port: int, secret: str, state_dir: Path, relay_ports: tuple[int, int] = RELAY_PORTS,
         host: str = "127.0.0.1") -> list[str]:
    """coturn's command line for a loopback relay (also the tests' relay)."""
    binary = shutil.which(BINARY) or BINARY
    return [
        binary, "-n",  # no config file: everything is here
        "--listening-ip", host, "--relay-ip", host, "--listening-port", str(port),
        "--min-port", str(relay_ports[0]), "--max-port", str(relay_ports[1]),
        "--use-auth-secret", f"--static-auth-secret={secret}", "--realm", REALM,
        # No certificates locally; on AWS too the media is DTLS-SRTP end to end whatever the relay.
        "--no-tls", "--no-dtls", "--no-tcp-relay",
        # The media worker is on 127.0.0.1, which coturn refuses as a peer unless told.
        "--allow-loopback-peers",
        "--no-cli", "--fingerprint", "--no-software-attribute",
        "--log-file", "stdout", "--simple-log",
        # Its pid file and (unused) user database in a directory of ours, not /var.
        "--pidfile", str(state_dir / "turnserver.pid"), "--db", str(state_dir / "turndb"),
    ]


def wait_until_listening(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Wait until the relay accepts TCP on ``port`` (it speaks no HTTP to ask it whether it is ready)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Local TURN relay (coturn)")
    parser.add_argument("--port", type=int, default=3478)
    args = parser.parse_args()
    from chalicelib.settings import Settings  # here: the stack imports this module for available() and urls()
    from local import logs

    logs.configure("turn")
    secret = os.environ.get(Settings.env_name("turn_secret"), "")
    if not secret:
        sys.exit(f"{Settings.env_name('turn_secret')} is not set")
    with tempfile.TemporaryDirectory(prefix="parlor-turn-") as state_dir:
        child = subprocess.Popen(argv(args.port, secret, Path(state_dir)), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: child.terminate())
        log.info("serving", extra={"urls": urls(args.port), "relay_ports": f"{RELAY_PORTS[0]}-{RELAY_PORTS[1]}"})
        assert child.stdout is not None
        for line in child.stdout:
            _relog(line)
        code = child.wait()
    sys.exit(code)


def _relog(line: str) -> None:
    match = _LINE.match(line)
    text = line[match.end():].strip() if match else line.strip()
    if text:
        level = logging.ERROR if match and match.group(1) == "ERROR" else logging.WARNING if match and match.group(1) else logging.INFO
        log.log(level, text, extra={"source": BINARY})


if __name__ == "__main__":
    main()
