"""Embedded Redis: a local ``redis-server`` daemon for ``tridium up`` and the tests.

Layout under ``data_dir/redis``: ``redis.conf`` (rewritten on every start), ``redis.pid``,
``redis.log`` and the append-only files.

No password: the server binds to 127.0.0.1 only, with protected mode on, so it is reachable
from this machine alone. Any local user can still connect; on a shared host, or in
production, point ``REDIS_URL`` at a Redis with ACLs instead.

Durability is AOF with ``appendfsync everysec`` (at most about a second of writes lost on a
crash): Redis carries only the event stream and caches; Postgres is the system of record.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import redis

from ._common import ServiceError, ServiceStatus, ensure_port_free, file_lock, live_process, log_tail, reap, wait_for

log = logging.getLogger(__name__)

_BINARY = "redis-server"
_START_TIMEOUT_S = 15
# Shutdown fsyncs the AOF (and saves an RDB snapshot when save points are due).
_STOP_TIMEOUT_S = 30


class EmbeddedRedis:
    """One local Redis per ``data_dir``. Like ``EmbeddedPostgres``, all state is on disk
    (pid file, config), so separate ``tridium`` invocations share the same server; the
    methods block."""

    def __init__(self, data_dir: Path, port: int = 63799) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.redis_dir = self.data_dir / "redis"
        self.pid_path = self.redis_dir / "redis.pid"
        self.log_path = self.redis_dir / "redis.log"
        self.conf_path = self.redis_dir / "redis.conf"
        self._lock_path = self.data_dir / ".redis.lock"

    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (no credentials; see the module docstring)."""
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        """Start ``redis-server`` daemonized, or reuse the one this data dir already runs
        (its pid file names a live redis-server that answers PING on our port).

        Raises ``PortInUseError`` if another process holds the port.
        """
        began = time.monotonic()
        with file_lock(self._lock_path):
            process = self._process()
            if process is not None:
                if self._server_pid() != process.pid:
                    raise ServiceError(
                        f"redis-server (pid {process.pid}) for {self.data_dir} is running but does not "
                        f"answer on port {self.port}. Stop it first (tridium down)."
                    )
                log.info("reusing the running Redis (pid %s)", process.pid)
                return
            self._start_server()
        log.info("Redis ready on %s:%s in %.2fs", self.host, self.port, time.monotonic() - began)

    def stop(self) -> None:
        """SIGTERM, which Redis handles like SHUTDOWN (fsync the AOF, remove the pid
        file), then wait for the process to exit; SIGKILL after 30 s. A no-op if the
        server is not running or was never started."""
        if not self.redis_dir.is_dir():
            return
        with file_lock(self._lock_path):
            process = self._process()
            if process is None:
                return
            process.send_signal(signal.SIGTERM)
            reap([process], timeout=_STOP_TIMEOUT_S)
            self.pid_path.unlink(missing_ok=True)

    def status(self) -> ServiceStatus:
        """Whether this data dir's redis-server runs, and its pid."""
        process = self._process()
        return ServiceStatus(
            name="redis",
            running=process is not None,
            pid=process.pid if process else None,
            port=self.port,
            data_dir=self.data_dir,
        )

    def _start_server(self) -> None:
        ensure_port_free("Redis", self.host, self.port)
        binary = ensure_redis_server_installed()
        self.redis_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pid_path.unlink(missing_ok=True)  # stale: _process() found no live server
        self._write_config()
        try:
            # daemonize: the server forks, calls setsid and points stdio at /dev/null,
            # so it outlives `tridium up` and ignores that terminal's Ctrl-C.
            subprocess.run(
                [str(binary), str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self.redis_dir,
                timeout=_START_TIMEOUT_S,
                check=True,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(
                f"redis-server failed to start. End of {self.log_path}:\n{log_tail(self.log_path)}"
            ) from exc

        def answering() -> bool:
            process = self._process()
            return process is not None and self._server_pid() == process.pid

        if not wait_for(answering, _START_TIMEOUT_S):
            raise ServiceError(f"Redis did not become ready. End of {self.log_path}:\n{log_tail(self.log_path)}")

    def _write_config(self) -> None:
        settings = {
            "port": str(self.port),
            "bind": self.host,
            "protected-mode": "yes",
            "daemonize": "yes",
            "dir": str(self.redis_dir),
            "pidfile": str(self.pid_path),
            "logfile": str(self.log_path),
            "appendonly": "yes",
            "appendfsync": "everysec",
        }
        body = "".join(f"{key} {_conf_quote(value)}\n" for key, value in settings.items())
        self.conf_path.write_text(
            "# Written by tridium.services on every start; edit the code, not this file.\n" + body
        )

    def _process(self) -> psutil.Process | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return live_process(pid, _BINARY)

    def _server_pid(self) -> int | None:
        """The pid of whatever Redis answers on our port (None if nothing does), so we
        know the server on the port is the one our pid file names."""
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5, socket_timeout=1)
        try:
            return int(client.info("server")["process_id"])
        except (redis.RedisError, OSError, KeyError, ValueError):
            return None
        finally:
            client.close()


def ensure_redis_server_installed() -> Path:
    """The ``redis-server`` binary, installing the OS package when it is missing and we
    can (root with apt-get). Otherwise a ``ServiceError`` says what to do instead."""
    found = shutil.which(_BINARY)
    if found:
        return Path(found)
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise ServiceError(
            "redis-server is not installed. Install it (apt-get install redis-server, brew install redis, …) "
            "or set REDIS_URL to an existing Redis."
        )
    log.info("redis-server not found; installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "redis-server"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
            raise ServiceError(f"`{' '.join(command)}` failed; install redis-server yourself or set REDIS_URL.\n{tail}")
    found = shutil.which(_BINARY)
    if not found:
        raise ServiceError("apt-get installed redis-server but it is not on PATH")
    return Path(found)


def _conf_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
