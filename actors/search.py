"""Knowledge search as the agents see it: a ``SearchFn`` protocol and a stand-in.

The knowledge base (``knowledge.search``) will provide hybrid vector + full-text search.
Until it lands, ``fulltext_search`` is a plain Portuguese full-text search over
``kb_vectors.chunk`` joined to ``kb_docs``, inside ``tenant_tx`` — so agents work today
on real rows. Swap it by passing another ``SearchFn`` to the agent host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from core.tenancy import TenantId
from db.pool import tenant_tx


@dataclass(frozen=True, slots=True)
class SearchResult:
    doc_id: UUID
    chunk_id: UUID
    chunk: str
    score: float
    source: str | None
    title: str
    page: int | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["doc_id"], d["chunk_id"] = str(self.doc_id), str(self.chunk_id)
        return d


class SearchFn(Protocol):
    async def __call__(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]: ...


# OR of the query's lexemes: customer questions are long and informal, so AND
# (websearch_to_tsquery) would almost never match. Ranked by cover density.
_FULLTEXT_SQL = """
with q as (
    select to_tsquery('portuguese', string_agg(quote_literal(lexeme), ' | ')) as query
    from unnest(to_tsvector('portuguese', $2)) as t(lexeme, positions, weights)
)
select v.doc_id, v.id as chunk_id, v.chunk, v.page, d.title, d.source,
       ts_rank_cd(to_tsvector('portuguese', v.chunk), q.query) as score
from kb_vectors v
join kb_docs d on d.tenant_id = v.tenant_id and d.id = v.doc_id
cross join q
where v.tenant_id = $1 and ($4::uuid is null or d.space_id = $4)
  and q.query is not null and to_tsvector('portuguese', v.chunk) @@ q.query
order by score desc, v.doc_id, v.chunk_index
limit $3
"""


class FulltextSearch:
    """Full-text-only ``SearchFn`` (stand-in for ``knowledge.search``)."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def __call__(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        if not query.strip():
            return []
        async with tenant_tx(self._pool, tenant_id) as conn:
            rows = await conn.fetch(_FULLTEXT_SQL, tenant_id, query[:2000], k, space_id)
        return [
            SearchResult(
                doc_id=r["doc_id"],
                chunk_id=r["chunk_id"],
                chunk=r["chunk"],
                score=float(r["score"]),
                source=r["source"],
                title=r["title"],
                page=r["page"],
            )
            for r in rows
        ]


def fulltext_search(pool: asyncpg.Pool) -> SearchFn:
    return FulltextSearch(pool)


__all__ = ["FulltextSearch", "SearchFn", "SearchResult", "fulltext_search"]
