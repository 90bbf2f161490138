"""Shared set-up of the knowledge-base benchmarks: embedded Postgres + Redis (own data dir and
ports, a fresh database per run), migrations, the HNSW index, a tenant with a token, and the
Serve application (Gateway, Embedder, Searcher, sweeper) exactly as ``tridium up`` runs it."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._common import free_port, start_bench_database, wait_http

DATA = Path(".tridium/bench-kb")
KB_DEMO = next(
    (p for p in (Path.cwd().parent / "shared/data/kb-demo", Path("/work/shared/data/kb-demo")) if p.is_dir()),
    Path("../shared/data/kb-demo"),
)


@dataclass
class KbPlatform:
    base_url: str
    env: dict[str, str]
    owner_url: str

    async def member(self, slug: str) -> tuple[Any, dict[str, str]]:
        """A tenant ``slug`` with an owner; returns (tenant_id, request headers)."""
        from core.settings import Settings
        from db.pool import create_pool
        from db.tenants import create_tenant, upsert_membership
        from serve.auth import mint_token

        pool = await create_pool(self.env["DATABASE_URL"], max_size=1)
        try:
            tid = await create_tenant(pool, slug, slug)
            await upsert_membership(pool, tid, f"user-{slug}", f"{slug}@example.com", "owner")
        finally:
            await pool.close()
        token = mint_token(Settings(), user_id=f"user-{slug}", email=f"{slug}@example.com")
        return tid, {"Authorization": f"Bearer {token}", "X-Tenant-Id": slug}


@contextmanager
def kb_platform(
    *,
    extra_env: dict[str, str] | None = None,
    serve_app: bool = True,
    pg_port: int = 54377,
    redis_port: int = 63877,
    data: Path = DATA,
) -> Iterator[KbPlatform]:
    pg, rd, db, env = start_bench_database(data, "benchkb", pg_port=pg_port, redis_port=redis_port)
    env |= {
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000000",
        "TRIDIUM_DATA_DIR": str(data.absolute()),
        "TRIDIUM_KB_DEMO": "0",
        **(extra_env or {}),
    }
    os.environ.update(env)
    from tridium.launcher import serve_ingress_env

    for flag, value in serve_ingress_env(data.absolute()).items():
        env[flag] = os.environ.setdefault(flag, value)
    try:
        from core.settings import Settings
        from db.migrate import migrate
        from tridium.kb_demo import ensure_indexes

        asyncio.run(migrate(env["DATABASE_OWNER_URL"]))
        asyncio.run(ensure_indexes(Settings(), env["DATABASE_OWNER_URL"]))
        base_url = ""
        if serve_app:
            import ray
            from ray import serve

            from serve.deployments import build_app

            port = free_port()
            ray.init(
                namespace="tridium",
                runtime_env={"env_vars": env},
                include_dashboard=False,
                object_store_memory=256 * 1024 * 1024,
                logging_level="WARNING",
                log_to_driver=False,
            )
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(build_app(env), name="tridium", route_prefix="/", blocking=False)
            base_url = f"http://127.0.0.1:{port}"
            wait_http(f"{base_url}/health")
        yield KbPlatform(base_url, env, env["DATABASE_OWNER_URL"])
    finally:
        try:
            import ray
            from ray import serve

            if ray.is_initialized():
                serve.shutdown()  # type: ignore[no-untyped-call]
                ray.shutdown()
        finally:
            pg.drop_database(db)
            rd.stop()
            pg.stop()


async def upload_all(
    client: httpx.AsyncClient, headers: dict[str, str], space: str, files: list[tuple[str, bytes]]
) -> list[str]:
    ids = []
    for name, data in files:
        r = await client.post(
            "/rag/uploads",
            headers=headers | {"Idempotency-Key": secrets.token_hex(8)},
            data={"space_id": space},
            files={"file": (name, data, "application/octet-stream")},
        )
        r.raise_for_status()
        ids.append(r.json()["uploadId"])
    return ids


async def wait_uploads(
    client: httpx.AsyncClient, headers: dict[str, str], ids: list[str], wait_s: float = 1800
) -> list[dict[str, Any]]:
    """Poll the upload list once a second (cheap: one request, not one per upload)."""
    deadline = time.monotonic() + wait_s
    wanted = set(ids)
    while time.monotonic() < deadline:
        ups = [u for u in (await client.get("/rag/uploads", headers=headers)).json() if u["id"] in wanted]
        if len(ups) == len(wanted) and all(u["status"] in ("embedded", "failed") for u in ups):
            return ups
        await asyncio.sleep(1)
    raise SystemExit("uploads did not finish in time")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
