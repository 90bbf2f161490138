"""Knowledge search as the agents see it: the ``SearchFn`` protocol.

Agents search the knowledge base with the same hybrid search (pgvector + Portuguese full
text, fused by RRF; ``knowledge.search``) that ``/rag/search`` serves, always async:

* in a Ray actor, the search SQL on the actor's own pool with the query's embedding from
  the shared Redis cache, or on a miss from the ``Searcher`` Serve deployment
  (``knowledge.remote.ModelServedSearcher``), so every actor shares one query-embedding
  model and its cache, and a cached query costs no hop to another process;
* in-process (plain uvicorn, tests), the gateway's own ``HybridSearcher``.

Both are passed to the agent host as a ``SearchFn``; results carry their sources
(document, title, page, chunk id) for citations.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from core.tenancy import TenantId
from knowledge.search import SearchResult


class SearchFn(Protocol):
    async def __call__(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]: ...


__all__ = ["SearchFn", "SearchResult"]
