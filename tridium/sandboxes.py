"""Provider sandboxes of ``tridium up`` as child processes (simulators, never the real
providers): ``python -m <module>`` with its log file, started when its health URL answers
200 and stopped with the rest of the platform by the launcher's shutdown."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_or_free(name: str, host: str, port: int) -> int:
    """``port`` when it is free, else a free one (said on stderr)."""
    if port_free(host, port):
        return port
    chosen = free_port(host)
    print(f"warning: port {port} is taken; the {name} sandbox uses {chosen}", file=sys.stderr)
    return chosen


class SandboxProcess:
    """One sandbox as a child process; ``stop()`` is called by the launcher's shutdown."""

    def __init__(
        self,
        name: str,
        module: str,
        args: list[str],
        health_url: str,
        log_path: Path,
        url: str = "",
        *,
        any_status: bool = False,
    ) -> None:
        self.name, self.module, self.args, self.health_url, self.log_path = name, module, args, health_url, log_path
        self.url = url  # the sandbox's base URL, for what the launcher prints and configures
        self.any_status = any_status  # no health route: any HTTP answer means it is up
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args], stdout=log_file, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SystemExit(f"the {self.name} sandbox exited with {self._proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(self.health_url, timeout=1).status_code
                if status == 200 or self.any_status:
                    return
            time.sleep(0.2)
        raise SystemExit(f"the {self.name} sandbox did not start in {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)


__all__ = ["SandboxProcess", "free_port", "port_free", "port_or_free"]
