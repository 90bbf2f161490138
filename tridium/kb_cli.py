"""``tridium kb``: the knowledge base's index policy and sizes, and index maintenance."""

from __future__ import annotations

import asyncio
import json
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


__all__ = ["kb_app"]
