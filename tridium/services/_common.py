"""What the Postgres and Redis launchers share: status, errors, locks, ports, processes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from core.errors import DependencyUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What ``tridium status`` prints for one embedded service."""

    name: str
    running: bool
    pid: int | None
    port: int
    data_dir: Path


class ServiceError(DependencyUnavailable):
    """An embedded service could not be started, stopped or reached.

    A ``DependencyUnavailable`` so that code that maps the error tree (the CLI, a test
    fixture) treats "the launcher could not bring Postgres up" like "Postgres is down".
    """


class PortInUseError(ServiceError):
    """The port a service should listen on is taken by a process we did not start."""

    def __init__(self, service: str, host: str, port: int) -> None:
        super().__init__(
            f"{service} cannot start: port {port} on {host} is already in use by another "
            f"process. Stop that process or choose another port.",
            details={"service": service, "host": host, "port": port},
        )
        self.port = port


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise start/stop of one service across processes (two ``tridium up``, xdist).

    flock locks belong to the open file description, so the lock is released by the
    kernel if the holder dies; no stale lock files to clean up.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_port_free(service: str, host: str, port: int) -> None:
    """Fail with the port's number before we spawn anything that would fail less clearly.

    SO_REUSEADDR mirrors what Postgres and Redis set on their listeners, so a port held
    only by TIME_WAIT sockets of a server we just stopped counts as free.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(service, host, port) from exc
            raise ServiceError(f"{service} cannot listen on {host}:{port}: {exc.strerror}") from exc


def live_process(pid: int, name: str) -> psutil.Process | None:
    """The process ``pid`` if it is alive and is ``name`` (a pid file can outlive its
    process, and the kernel reuses pids), else None."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != name:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def reap(procs: list[psutil.Process], timeout: float) -> None:
    """Wait for ``procs`` to exit; SIGKILL whatever is still alive after ``timeout``.

    The last line of defence behind a graceful shutdown, so stop() never leaves orphans.
    A zombie counts as exited: daemons are reparented to PID 1, and a PID 1 that reaps
    late (some container inits) would otherwise make every stop() wait for it.
    """
    if wait_for(lambda: all(map(exited, procs)), timeout):
        return
    for proc in procs:
        if not exited(proc):
            log.warning("process %s did not exit in %ss; killing it", proc.pid, timeout)
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
    wait_for(lambda: all(map(exited, procs)), 5)


def exited(proc: psutil.Process) -> bool:
    """True once ``proc`` is gone or a zombie (it holds no port, file or memory then)."""
    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it returns True or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a service's log, for error messages that say why it did not start."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
