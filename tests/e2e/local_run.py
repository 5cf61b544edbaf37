"""``python -m local`` (what ``make run`` runs) as a real process on free ports, beside a
developer's own stack, with its console captured line by line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from local.stack import ROOT, Ports
from tests.waiting import wait_for


def port_env(ports: Ports) -> dict[str, str]:
    return {variable: str(getattr(ports, name)) for name, variable in Ports.ENV.items()}


class LocalRun:
    def __init__(self, run_dir: Path, ports: Ports | None = None, *args: str):
        self.run_dir = run_dir
        self.ports = ports or Ports.free()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env.update(port_env(self.ports), PARLOR_TABLE_PREFIX="parlor-e2e", PARLOR_HOST_MIN_FOLLOWERS="0")
        self.process = subprocess.Popen([sys.executable, "-m", "local", "--run-dir", str(run_dir), *args], cwd=ROOT,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.console: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.console.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in self.console)

    def wait_up(self, timeout: float = 120) -> LocalRun:
        wait_for(lambda: self.said("Parlor is up") or self.process.poll() is not None, timeout, "Parlor is up")
        assert self.process.poll() is None, "\n".join(self.console)
        return self

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, as a person stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self._reader.join(5)
        return code

    def component_pid(self, module: str) -> int:
        """The pid of the component running ``python -m <module>`` (a child of the stack)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.process.pid and module.encode() in cmdline:
                return int(entry.name)
        raise AssertionError(f"no {module} process under the stack")
