"""The embedded services as ``tridium up``/``down`` and the test suite use them: real
Postgres and Redis processes in a temp dir, on free ports (never the defaults, so a
developer's running stack is untouched)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from tridium.services import (
    EmbeddedPostgres,
    EmbeddedRedis,
    PortInUseError,
    ServiceError,
    ensure_redis_server_installed,
)

ROLES = ("tridium_owner", "tridium_app", "tridium_relay")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gone(pid: int) -> bool:
    """Exited; a zombie waiting for PID 1 to reap it counts (it holds nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("services") / "data", port=_free_port())
    yield server
    server.stop()


@pytest.fixture
def running_postgres(postgres: EmbeddedPostgres) -> EmbeddedPostgres:
    """Started for each test (cheap when already running), so tests pass in any order."""
    postgres.start()
    return postgres


# -- Postgres ---------------------------------------------------------------------------


async def test_app_role_connects_without_superuser_or_bypassrls(running_postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(running_postgres.app_url())
    try:
        assert await conn.fetchval("select current_user") == "tridium_app"
        rows = await conn.fetch(
            "select rolname, rolsuper, rolbypassrls, rolcanlogin from pg_roles where rolname = any($1::text[])",
            list(ROLES),
        )
        assert {r["rolname"]: (r["rolsuper"], r["rolbypassrls"], r["rolcanlogin"]) for r in rows} == {
            role: (False, False, True) for role in ROLES
        }
        owner = await conn.fetchval(
            "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"
        )
        assert owner == "tridium_owner"
    finally:
        await conn.close()


async def test_vector_extension_is_installed_and_usable_by_the_app(running_postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(running_postgres.app_url())
    try:
        version = await conn.fetchval("select extversion from pg_extension where extname = 'vector'")
        assert version is not None and version.startswith("0.8")
        assert await conn.fetchval("select '[1,2,3]'::vector::text") == "[1,2,3]"
        assert await conn.fetchval("select '[1,2,3]'::vector <-> '[1,2,4]'::vector") == pytest.approx(1.0)
    finally:
        await conn.close()


async def test_tcp_logins_need_the_generated_password(running_postgres: EmbeddedPostgres) -> None:
    wrong = running_postgres.app_url().replace(running_postgres.secrets().password("tridium_app"), "wrong")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(wrong)
    for url in (running_postgres.superuser_url(), running_postgres.owner_url(), running_postgres.relay_url()):
        conn = await asyncpg.connect(url)
        await conn.close()


async def test_portuguese_full_text_search_lowercases_accented_capitals(running_postgres: EmbeddedPostgres) -> None:
    # The cluster's builtin C.UTF-8 locale; with the plain C locale this yields 'aÇÃo'.
    conn = await asyncpg.connect(running_postgres.app_url())
    try:
        assert await conn.fetchval("select to_tsvector('portuguese', 'AÇÃO')::text") == "'açã':1"
    finally:
        await conn.close()


def test_secrets_file_is_private_and_stable(running_postgres: EmbeddedPostgres) -> None:
    path = running_postgres.data_dir / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = EmbeddedPostgres(running_postgres.data_dir, port=running_postgres.port).secrets()
    for role in ("postgres", *ROLES):
        assert again.password(role) == running_postgres.secrets().password(role)
        assert len(again.password(role)) >= 32
    assert "**" in repr(again)  # SecretStr: passwords never print


def test_second_start_reuses_the_running_server(running_postgres: EmbeddedPostgres) -> None:
    pid = running_postgres.status().pid
    began = time.monotonic()
    # A new object, as a second `tridium up` in another process would build.
    EmbeddedPostgres(running_postgres.data_dir, port=running_postgres.port).start()
    assert time.monotonic() - began < 2.0
    assert running_postgres.status().pid == pid


def test_start_on_another_port_than_the_running_server_is_refused(running_postgres: EmbeddedPostgres) -> None:
    with pytest.raises(ServiceError, match=f"already running on port {running_postgres.port}"):
        EmbeddedPostgres(running_postgres.data_dir, port=_free_port()).start()


async def test_stop_leaves_no_process_and_restart_keeps_data(running_postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(running_postgres.owner_url())
    await conn.execute("create table if not exists survives (v text); insert into survives values ('kept')")
    await conn.close()
    postmaster = psutil.Process(running_postgres.status().pid)
    pids = [postmaster.pid, *(child.pid for child in postmaster.children(recursive=True))]
    assert len(pids) > 3  # checkpointer, walwriter, … are children too

    running_postgres.stop()

    assert all(_gone(pid) for pid in pids)
    assert not running_postgres.status().running
    with pytest.raises(OSError):
        await asyncpg.connect(running_postgres.app_url(), timeout=2)
    running_postgres.stop()  # already stopped: no-op

    running_postgres.start()
    conn = await asyncpg.connect(running_postgres.owner_url())
    try:
        assert await conn.fetchval("select v from survives") == "kept"
    finally:
        await conn.close()


async def test_server_runs_with_durable_settings_on_loopback(running_postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(running_postgres.superuser_url())
    try:
        settings = {
            name: await conn.fetchval(f"show {name}")
            for name in ("fsync", "synchronous_commit", "listen_addresses", "max_connections", "shared_buffers")
        }
    finally:
        await conn.close()
    assert settings == {
        "fsync": "on",
        "synchronous_commit": "on",
        "listen_addresses": "127.0.0.1",
        "max_connections": "200",
        "shared_buffers": "256MB",
    }


def test_start_recovers_after_the_server_was_killed(running_postgres: EmbeddedPostgres) -> None:
    # What the OOM killer leaves: stale lock files naming a dead (or zombie) postmaster.
    pid = running_postgres.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until_gone(pid)
    assert not running_postgres.status().running

    running_postgres.start()

    assert running_postgres.status().running
    assert running_postgres.status().pid != pid


async def test_create_and_drop_a_database_per_test_session(running_postgres: EmbeddedPostgres) -> None:
    running_postgres.create_database("tridium_test_session")
    conn = await asyncpg.connect(running_postgres.app_url("tridium_test_session"))
    try:
        assert await conn.fetchval("select '[1,2]'::vector::text") == "[1,2]"
    finally:
        await conn.close()

    running_postgres.drop_database("tridium_test_session")

    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(running_postgres.app_url("tridium_test_session"))
    with pytest.raises(ServiceError, match="refusing"):
        running_postgres.drop_database("tridium")


def test_postgres_start_names_the_busy_port(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port}"):
            EmbeddedPostgres(tmp_path, port=port).start()
    assert not (tmp_path / "pg" / "PG_VERSION").exists()  # failed before initdb


def test_stop_and_status_of_never_started_services_are_noops(tmp_path: Path) -> None:
    postgres, redis_server = EmbeddedPostgres(tmp_path, port=_free_port()), EmbeddedRedis(tmp_path, port=_free_port())
    postgres.stop()
    redis_server.stop()
    assert not postgres.status().running
    assert not redis_server.status().running
    assert list(tmp_path.iterdir()) == []


# -- Redis ------------------------------------------------------------------------------


def test_redis_start_ping_reuse_stop(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, port=_free_port())
    server.start()
    try:
        client = redis.Redis.from_url(server.url())
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        client.set("tridium:test", "kept")
        client.close()

        pid = server.status().pid
        began = time.monotonic()
        EmbeddedRedis(tmp_path, port=server.port).start()
        assert time.monotonic() - began < 1.0
        assert server.status().pid == pid
    finally:
        server.stop()

    assert pid is not None and _gone(pid)
    assert not server.status().running
    assert not (tmp_path / "redis" / "redis.pid").exists()
    server.stop()  # already stopped: no-op

    server.start()  # the append-only file brings the data back
    try:
        client = redis.Redis.from_url(server.url())
        assert client.get("tridium:test") == b"kept"
        client.close()
    finally:
        server.stop()


def test_redis_start_names_the_busy_port(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port}"):
            EmbeddedRedis(tmp_path, port=port).start()


def test_redis_server_binary_is_found() -> None:
    binary = ensure_redis_server_installed()
    assert binary.name == "redis-server" and binary.exists()
