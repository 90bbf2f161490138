"""Hybrid search: pgvector cosine ranking + Portuguese full-text ranking, fused by RRF.

One SQL statement per query does both legs and the fusion (reciprocal rank fusion,
``score = Σ 1 / (rrf_k + rank)``), inside the tenant's transaction, so RLS applies to
every row read. The vector leg's path (exact scan or HNSW with iterative scans) comes from
:mod:`knowledge.index_policy`. Full text uses the ``portuguese`` configuration over
unaccented text (``kb_vectors.tsv``, generated, GIN), matching any of the query's lexemes:
customer questions are long and informal, so requiring all of them would match nothing.
It runs in ``kb_fts_candidates`` (see the comment at ``_FTS_CTE``).

Query embeddings are cached in Redis under tenant-scoped keys
(``kb:{tenant_id}:qemb:{model}:{sha256(query)}``) as float32 bytes.

The API for agents::

    searcher = HybridSearcher(pool, embedder, redis_client)
    results = await searcher.search(tenant_id, "qual o preço do plano anual?", k=6, space=None)
    # -> list[SearchResult(doc_id, chunk_id, chunk, score, source, title, page, ...)]

``HybridSearcher`` is also callable as ``await searcher(tenant_id, query, k, space_id)``,
the ``actors.search.SearchFn`` protocol.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from core.tenancy import TenantId
from db.pool import tenant_tx
from knowledge.index_policy import CorpusSizes, HnswParams, hnsw_params, sql_literal
from knowledge.store import vector_literal

if TYPE_CHECKING:
    from core.settings import Settings
    from knowledge.embedding import Embedder

log = logging.getLogger("tridium.knowledge.search")

MAX_QUERY_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SearchResult:
    doc_id: UUID
    chunk_id: UUID
    chunk: str
    score: float
    source: str | None
    title: str
    page: int | None
    chunk_index: int = 0
    heading: str = ""
    space_id: UUID | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("doc_id", "chunk_id", "space_id"):
            d[key] = None if d[key] is None else str(d[key])
        return d

    def as_api(self) -> dict[str, Any]:
        """The HTTP shape: camelCase ids as the issue's contract names them."""
        return {
            "docId": str(self.doc_id),
            "chunkId": str(self.chunk_id),
            "chunk": self.chunk,
            "score": self.score,
            "source": self.source,
            "title": self.title,
            "page": self.page,
            "chunkIndex": self.chunk_index,
            "heading": self.heading,
        }


# The full-text leg is the definer function kb_fts_candidates (migration 0003): under RLS
# the GIN index is unusable from the app role (`@@` is not leakproof), and the function
# bounds the rows it ranks (fts_budget). Tuned on kb-demo (bench/rag_eval.py): plain
# ts_rank over an OR of the query's lexemes
# ranks long PDF table chunks fairly (cover density favoured short chunks), and a small
# RRF constant with the vector leg at half weight: MiniLM is an English model, so on
# Portuguese text the lexical leg is the stronger one and vectors break its ties.
_FTS_CTE = """
fts as (select id, rnk from kb_fts_candidates($4::text, $3::text, $5::uuid, $6::int, $10::int))"""

_FUSE = """
fused as (
    select id, sum(w / ($7::float8 + rnk)) as score
    from (select id, rnk, $9::float8 as w from vec union all select id, rnk, 1.0 as w from fts) u
    group by id
    order by score desc, id
    limit $8
)
select f.score, v.id as chunk_id, v.doc_id, v.chunk, v.context, v.page, v.chunk_index, v.space_id,
       d.title, d.source
from fused f
join kb_vectors v on v.tenant_id = $1 and v.id = f.id
join kb_docs d on d.tenant_id = v.tenant_id and d.id = v.doc_id
order by f.score desc, v.id
"""


def exact_sql() -> str:
    """Exact cosine ranking over the tenant's rows (the expression index cannot serve it)."""
    return f"""
with vec as (
    select v.id, row_number() over (order by v.embedding <=> $2::vector, v.id) as rnk
    from kb_vectors v
    where v.tenant_id = $1 and v.model = $3 and ($5::uuid is null or v.space_id = $5)
    order by v.embedding <=> $2::vector, v.id
    limit $6
),{_FTS_CTE},{_FUSE}"""


def hnsw_sql(model: str, dim: int) -> str:
    """HNSW ranking: the expression and the model predicate match the partial index.

    Iterative scans in relaxed order may return neighbours slightly out of order, so the
    candidates are materialised and ranked by their distance afterwards.
    """
    cast = f"vector({int(dim)})"
    return f"""
with ann as materialized (
    select v.id, v.embedding::{cast} <=> $2::{cast} as distance
    from kb_vectors v
    where v.model = {sql_literal(model)} and v.dim = {int(dim)}
      and v.tenant_id = $1 and v.model = $3 and ($5::uuid is null or v.space_id = $5)
    order by v.embedding::{cast} <=> $2::{cast}
    limit $6
),
vec as (select id, row_number() over (order by distance, id) as rnk from ann),{_FTS_CTE},{_FUSE}"""


class HybridSearcher:
    """Tenant-scoped hybrid search over ``kb_vectors`` (see module doc)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        embedder: Embedder,
        cache: redis.Redis | None = None,
        *,
        threshold: int = 5_000,
        params: HnswParams | None = None,
        cache_ttl_s: int = 3600,
        rrf_k: int = 10,
        vector_weight: float = 0.5,
        candidates: int = 40,
        fts_budget: int = 3000,
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._cache = cache
        self._threshold = threshold
        self._params = params or HnswParams()
        self._ttl = cache_ttl_s
        self._rrf_k = rrf_k
        self._vector_weight = vector_weight
        self._candidates = candidates
        self._fts_budget = fts_budget
        self._sizes = CorpusSizes()
        self._hnsw_sql: dict[tuple[str, int], str] = {}
        self._exact_sql = exact_sql()

    @classmethod
    def from_settings(
        cls, settings: Settings, pool: asyncpg.Pool, embedder: Embedder, cache: redis.Redis | None
    ) -> HybridSearcher:
        return cls(
            pool,
            embedder,
            cache,
            threshold=settings.kb_hnsw_threshold,
            params=hnsw_params(settings),
            cache_ttl_s=settings.kb_query_cache_ttl_s,
        )

    @property
    def model(self) -> str:
        return self._embedder.model_name

    async def embed_query(self, tenant_id: TenantId, query: str) -> list[float]:
        key = f"kb:{tenant_id}:qemb:{self.model}:{hashlib.sha256(query.encode()).hexdigest()}"
        if self._cache is not None:
            try:
                raw = await self._cache.get(key)
            except (redis.RedisError, OSError) as exc:  # the cache is an optimisation only
                log.warning("query-embedding cache unavailable: %s", exc)
                raw = None
            if isinstance(raw, bytes) and raw:
                return list(array("f", raw))
        vector = (await self._embedder.embed([query]))[0]
        if self._cache is not None:
            try:
                await self._cache.set(key, array("f", vector).tobytes(), ex=self._ttl)
            except (redis.RedisError, OSError) as exc:
                log.warning("query-embedding cache unavailable: %s", exc)
        return vector

    async def search(
        self, tenant_id: TenantId, query: str, k: int = 8, space: UUID | None = None, *, path: str | None = None
    ) -> list[SearchResult]:
        """The ``k`` best chunks of the tenant (optionally one space), each with its source.

        ``path`` forces ``exact`` or ``hnsw`` (benchmarks); by default the index policy picks.
        """
        query = query.strip()[:MAX_QUERY_CHARS]
        if not query or k < 1:
            return []
        vector = await self.embed_query(tenant_id, query)
        dim = len(vector)
        model = self.model
        n = max(self._candidates, 4 * k)
        async with tenant_tx(self._pool, tenant_id) as conn:
            if path is None:
                large = await self._sizes.count(conn, tenant_id, model) >= self._threshold
                path = "hnsw" if large and await self._sizes.index_ready(conn, model, dim) else "exact"
            if path == "hnsw":
                ef = max(self._params.ef_search, n)
                await conn.execute(
                    "select set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', "
                    "'relaxed_order', true), set_config('hnsw.max_scan_tuples', $2, true)",
                    str(ef),
                    str(self._params.max_scan_tuples),
                )
                sql = self._hnsw_sql.get((model, dim)) or self._hnsw_sql.setdefault((model, dim), hnsw_sql(model, dim))
            else:
                sql = self._exact_sql
            rows = await conn.fetch(
                sql,
                tenant_id,
                vector_literal(vector),
                model,
                query,
                space,
                n,
                float(self._rrf_k),
                k,
                self._vector_weight,
                self._fts_budget,
            )
        return [
            SearchResult(
                doc_id=r["doc_id"],
                chunk_id=r["chunk_id"],
                chunk=r["chunk"],
                score=round(float(r["score"]), 6),
                source=r["source"],
                title=r["title"],
                page=r["page"],
                chunk_index=r["chunk_index"],
                heading=r["context"],
                space_id=r["space_id"],
            )
            for r in rows
        ]

    async def __call__(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        return await self.search(tenant_id, query, k, space_id)


__all__ = ["HybridSearcher", "SearchResult", "exact_sql", "hnsw_sql"]
