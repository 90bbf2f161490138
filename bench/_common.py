"""Shared benchmark helpers: an HTTP load driver, percentiles, tables, JSON results."""

from __future__ import annotations

import asyncio
import json
import platform
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results"


@dataclass
class Run:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 180) -> None:
    """Poll ``url`` until it answers below 500 (a server came up), or give up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def _empty(url: str) -> None:
    """The data dir is reused between runs and Redis persists: an earlier run's stream
    entries (for tenants of a database since dropped) would be re-read and retried by the
    consumers of this one, on its CPU. This Redis is the benchmark's own: empty it."""
    import redis as redis_sync

    with redis_sync.Redis.from_url(url) as client:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.flushall()
                return
            except redis_sync.exceptions.BusyLoadingError:  # still loading the old dataset
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def start_bench_database(
    data_dir: Path, prefix: str, *, pg_port: int | None = None, redis_port: int | None = None
) -> tuple[Any, Any, str, dict[str, str]]:
    """Embedded Postgres + Redis under ``data_dir`` and a fresh database ``{prefix}_<hex>``.

    Returns (postgres, redis, database name, base environment for the servers under test);
    the caller drops the database and stops the services when done.
    """
    import secrets

    from tridium.services import EmbeddedPostgres, EmbeddedRedis, ensure_redis_server_installed

    ensure_redis_server_installed()
    pg = EmbeddedPostgres(data_dir, port=pg_port or free_port())
    rd = EmbeddedRedis(data_dir, port=redis_port or free_port())
    pg.start()
    try:
        rd.start()
        _empty(rd.url())
    except BaseException:
        rd.stop()
        pg.stop()
        raise
    db = f"{prefix}_{secrets.token_hex(3)}"
    pg.create_database(db)
    env = {
        "DATABASE_URL": pg.app_url(db),
        "DATABASE_OWNER_URL": pg.owner_url(db),
        "DATABASE_RELAY_URL": pg.relay_url(db),
        "REDIS_URL": rd.url(),
        "TRIDIUM_JWT_SECRET": secrets.token_urlsafe(48),
        "TRIDIUM_LOG_LEVEL": "WARNING",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    return pg, rd, db, env


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


async def drive(
    name: str,
    base_url: str,
    make_request: Callable[[int], tuple[str, str, dict[str, str], Any]],
    *,
    total: int,
    concurrency: int,
    expect: set[int],
) -> Run:
    """Send ``total`` requests with ``concurrency`` workers; latency per request."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                method, path, headers, body = make_request(i)
                t0 = time.perf_counter()
                r = await client.request(method, path, headers=headers, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code not in expect:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    return Run(
        name,
        total,
        errors,
        round(elapsed, 3),
        round(percentile(latencies, 50), 2),
        round(percentile(latencies, 95), 2),
        round(percentile(latencies, 99), 2),
        round(total / elapsed, 1),
    )


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    try:
        cpu = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        cpu = "?"
    return {"python": platform.python_version(), "cpus": cpu, "platform": platform.platform()}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()} | (
        payload
    )
    path.write_text(
        json.dumps(payload, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
    )
    return path


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
