"""Index policy (seed §7): exact scans while a tenant is small, HNSW once it is large.

* The ``embedding`` column has no fixed dimension, so an ANN index is an **expression**
  index on ``embedding::vector(dim)``, **partial per model** (``where model = '…'``): one
  per embedding model in use, shared by the tenants (RLS filters rows).
* Per query, the searcher picks the path by the tenant's corpus size for that model:
  below ``kb_hnsw_threshold`` chunks it orders by ``embedding <=> q`` (cannot match the
  expression index, so Postgres scans the tenant's rows exactly through the tenant index);
  above it, it orders by ``embedding::vector(dim) <=> q::vector(dim)`` with the model's
  literal predicate, which the HNSW index serves, with ``hnsw.iterative_scan`` on so that a
  tenant holding 1 % of the rows still gets k results, and ``ef_search >= k``.
* Creating indexes needs the owner role (the app role owns nothing): ``ensure_hnsw`` runs
  at ``tridium up`` for the configured model, from ``tridium kb index`` and after a model
  switch. Until the index exists the searcher stays on the exact path.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from core.tenancy import TenantId

if TYPE_CHECKING:
    from core.settings import Settings

_IDENT = re.compile(r"[^a-z0-9]+")


def index_name(model: str, dim: int) -> str:
    slug = _IDENT.sub("_", model.lower()).strip("_")[-40:]
    return f"kb_vectors_hnsw_{slug}_{dim}"


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class HnswParams:
    m: int = 16
    ef_construction: int = 64
    ef_search: int = 100
    max_scan_tuples: int = 20_000


def hnsw_params(settings: Settings) -> HnswParams:
    return HnswParams(
        m=settings.kb_hnsw_m,
        ef_construction=settings.kb_hnsw_ef_construction,
        ef_search=settings.kb_ef_search,
        max_scan_tuples=settings.kb_max_scan_tuples,
    )


async def ensure_hnsw(conn: asyncpg.Connection, model: str, dim: int, params: HnswParams) -> bool:
    """Create the model's HNSW index if missing (owner connection); True if created now."""
    name = index_name(model, dim)
    exists = await conn.fetchval("select to_regclass($1) is not null", name)
    if exists:
        return False
    await conn.execute(
        f"create index concurrently if not exists {name} on kb_vectors using hnsw "
        f"((embedding::vector({int(dim)})) vector_cosine_ops) "
        f"with (m = {int(params.m)}, ef_construction = {int(params.ef_construction)}) "
        f"where model = {sql_literal(model)} and dim = {int(dim)}"
    )
    return True


async def hnsw_ready(conn: asyncpg.Connection, model: str, dim: int) -> bool:
    """The index exists and is valid (a failed CONCURRENTLY build leaves an invalid one)."""
    return bool(
        await conn.fetchval(
            """select coalesce(bool_and(i.indisvalid), false) from pg_index i
               join pg_class c on c.oid = i.indexrelid where c.relname = $1""",
            index_name(model, dim),
        )
    )


class CorpusSizes:
    """Per-process cache of (tenant, model) → chunk count, refreshed every ``ttl_s``."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self._ttl = ttl_s
        self._data: dict[tuple[TenantId, str], tuple[float, int]] = {}
        self._ready: dict[tuple[str, int], tuple[float, bool]] = {}

    async def count(self, conn: asyncpg.Connection, tenant_id: TenantId, model: str) -> int:
        key = (tenant_id, model)
        hit = self._data.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        n = int(
            await conn.fetchval("select count(*) from kb_vectors where tenant_id = $1 and model = $2", tenant_id, model)
        )
        self._data[key] = (time.monotonic() + self._ttl, n)
        return n

    async def index_ready(self, conn: asyncpg.Connection, model: str, dim: int) -> bool:
        key = (model, dim)
        hit = self._ready.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        ready = await hnsw_ready(conn, model, dim)
        self._ready[key] = (time.monotonic() + self._ttl, ready)
        return ready


async def status(pool: asyncpg.Pool, *, threshold: int) -> dict[str, Any]:
    """Sizes and the path each tenant's searches take (for ``tridium kb status``).

    Per tenant through ``tenant_tx`` with the app role: RLS binds every login role here.
    """
    from db.pool import tenant_tx

    rows: list[dict[str, Any]] = []
    async with pool.acquire() as conn:
        tenants = await conn.fetch("select id, slug from tenants order by slug")
        indexes = await conn.fetch(
            """select c.relname as name, i.indisvalid as valid, pg_relation_size(c.oid) as bytes,
                      pg_get_indexdef(c.oid) as definition
               from pg_index i join pg_class c on c.oid = i.indexrelid
               where c.relname like 'kb_vectors_hnsw_%' order by c.relname"""
        )
        table_bytes = await conn.fetchval("select pg_total_relation_size('kb_vectors')")
    valid = {r["name"] for r in indexes if r["valid"]}
    for t in tenants:
        async with tenant_tx(pool, TenantId(t["id"])) as conn:
            sizes = await conn.fetch(
                """select model, dim, count(*) as chunks, count(distinct doc_id) as docs
                   from kb_vectors where tenant_id = $1 group by model, dim order by chunks desc""",
                t["id"],
            )
        for r in sizes:
            path = "hnsw" if r["chunks"] >= threshold and index_name(r["model"], r["dim"]) in valid else "exact"
            rows.append(
                {"tenant": t["slug"], "model": r["model"], "dim": r["dim"], "docs": r["docs"], "chunks": r["chunks"]}
                | {"path": path}
            )
    return {
        "threshold": threshold,
        "tenants": rows,
        "indexes": [dict(r) for r in indexes],
        "kb_vectors_bytes": table_bytes,
    }


__all__ = ["CorpusSizes", "HnswParams", "ensure_hnsw", "hnsw_ready", "index_name", "sql_literal", "status"]
