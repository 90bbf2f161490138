"""``tridium kb``: the knowledge base's index policy and sizes, and index maintenance; and
``tridium sandbox supabase-storage`` (registered on the sandbox group in ``tridium.cli``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from core.settings import Settings

kb_app = typer.Typer(help="Knowledge base: index policy, sizes, indexes.", no_args_is_help=True)


def _settings() -> tuple[Settings, str | None]:
    from . import launcher

    services = launcher.resolve_services(Settings())
    return launcher.settings_with(services.env), services.owner_url


@kb_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Per tenant and model: documents, chunks and the search path (exact | hnsw); the ANN indexes."""
    settings, _ = _settings()

    async def run() -> dict[str, object]:
        from db.pool import create_pool
        from knowledge.index_policy import status as kb_status

        pool = await create_pool(settings.require_database_url(), max_size=2)
        try:
            return await kb_status(pool, threshold=settings.kb_hnsw_threshold)
        finally:
            await pool.close()

    report = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(report, default=str, indent=2))
        return
    typer.echo(
        f"policy: exact scan below {settings.kb_hnsw_threshold} chunks per tenant and model; HNSW above "
        f"(m={settings.kb_hnsw_m}, ef_construction={settings.kb_hnsw_ef_construction}, "
        f"ef_search=max({settings.kb_ef_search}, 4k), iterative_scan=relaxed_order, "
        f"max_scan_tuples={settings.kb_max_scan_tuples})"
    )
    typer.echo(f"kb_vectors: {int(report['kb_vectors_bytes']) / 1e6:.1f} MB")  # type: ignore[call-overload]
    typer.echo(f"{'tenant':<24} {'model':<42} {'dim':>5} {'docs':>6} {'chunks':>8}  path")
    for r in report["tenants"]:  # type: ignore[attr-defined]
        typer.echo(f"{r['tenant']:<24} {r['model']:<42} {r['dim']:>5} {r['docs']:>6} {r['chunks']:>8}  {r['path']}")
    for i in report["indexes"]:  # type: ignore[attr-defined]
        state = "valid" if i["valid"] else "INVALID"
        typer.echo(f"index {i['name']}: {int(i['bytes']) / 1e6:.1f} MB, {state}")


@kb_app.command("index")
def index(
    model: Annotated[str | None, typer.Option(help="embedding model (default: the configured one)")] = None,
    dim: Annotated[int | None, typer.Option(help="its dimension")] = None,
) -> None:
    """Create the HNSW index of an embedding model (as the owner; CONCURRENTLY, no write lock)."""
    settings, owner_url = _settings()
    if owner_url is None:
        raise typer.BadParameter("DATABASE_OWNER_URL is required to create indexes")

    async def run() -> bool:
        import asyncpg

        from knowledge.factory import hnsw_params
        from knowledge.index_policy import ensure_hnsw
        from tridium.kb_demo import LOCAL_DIM
        from tridium.kb_demo import ensure_indexes as ensure_default

        if model is None:
            await ensure_default(settings, owner_url)
            return True
        conn = await asyncpg.connect(owner_url)
        try:
            return await ensure_hnsw(conn, model, dim or LOCAL_DIM, hnsw_params(settings))
        finally:
            await conn.close()

    asyncio.run(run())
    typer.echo("ok")


def sandbox_supabase_storage(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8091,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    bucket: Annotated[list[str] | None, typer.Option(help="bucket to create at start (repeatable)")] = None,
    service_key: Annotated[str | None, typer.Option(help="the key clients must send (default: the sandbox's)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="keep objects on disk here (default: memory)")] = None,
) -> None:
    """Run the Supabase Storage sandbox (a simulator of the object API, not Supabase; Ctrl-C stops it).

    Point Tridium at it with TRIDIUM_KB_STORAGE=supabase SUPABASE_URL=http://HOST:PORT and
    SUPABASE_SERVICE_KEY=<the key it prints>.
    """
    from tools.storage.sandbox import DEFAULT_SERVICE_KEY, StorageSandboxConfig, serve

    key = service_key or DEFAULT_SERVICE_KEY
    config = StorageSandboxConfig(service_key=key, buckets=tuple(bucket or ["kb"]), data_dir=data_dir)
    typer.echo(f"SUPABASE_URL=http://{host}:{port} SUPABASE_SERVICE_KEY={key}  (simulated, not Supabase)")
    try:
        serve(port, host=host, config=config)
    except KeyboardInterrupt:
        typer.echo("sandbox stopped")


__all__ = ["kb_app", "sandbox_supabase_storage"]
