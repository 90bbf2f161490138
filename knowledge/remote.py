"""Clients of the knowledge Serve deployments, over a ``DeploymentHandle`` passed in.

* :class:`ServeEmbedder` calls the ``Embedder`` deployment: ingestion tasks and batch jobs
  embed through it so that every caller shares one model in memory and its dynamic
  batching (``@serve.batch``).
* :class:`ServeSearcher` calls the ``Searcher`` deployment: the gateway's ``/rag/search``
  runs the hybrid search there.
* :class:`SearcherQueryEmbedder` and :class:`ModelServedSearcher`: the agent actors'
  ``kb_search`` runs the same hybrid search (``knowledge.search.HybridSearcher``, same SQL,
  same Redis query-embedding cache) in the actor, on the actor's pool, and asks the
  ``Searcher`` deployment only for the embedding of a query the cache does not have: a
  cached query costs no hop to another process (the Searcher's model stays the only copy).

Nothing here imports Ray.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from core.errors import DependencyUnavailable
from core.tenancy import TenantId
from knowledge.errors import EmbeddingFailed
from knowledge.search import HybridSearcher, SearchResult

if TYPE_CHECKING:
    import asyncpg
    import redis.asyncio as redis

    from core.settings import Settings


class _ModelInfo:
    """The embedding model's name, dimension and window, as a deployment reported them
    (``load()`` fetches them once; reading one before that is a programming error)."""

    _info: dict[str, Any] | None

    def _require(self) -> dict[str, Any]:
        if self._info is None:
            raise RuntimeError(f"{type(self).__name__}.load() was not awaited")
        return self._info

    @property
    def model_name(self) -> str:
        return str(self._require()["model"])

    @property
    def dim(self) -> int:
        return int(self._require()["dim"])

    @property
    def max_tokens(self) -> int:
        return int(self._require()["max_tokens"])


class ServeEmbedder(_ModelInfo):
    """``Embedder`` over a ``DeploymentHandle`` to ``serve.knowledge_deployments.Embedder``."""

    def __init__(self, handle: Any, info: dict[str, Any] | None = None) -> None:
        self._handle = handle
        self._info = info

    async def load(self) -> ServeEmbedder:
        """Fetch the model's name, dimension and window once (call before use)."""
        if self._info is None:
            try:
                self._info = dict(await self._handle.info.remote())
            except Exception as exc:
                raise DependencyUnavailable(
                    "the Embedder deployment is unavailable", details={"error": str(exc)}
                ) from exc
        return self

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            vectors: list[list[float]] = await self._handle.embed.remote(list(texts))
        except EmbeddingFailed:
            raise
        except Exception as exc:  # Ray wraps replica errors; all mean "the embedder failed us"
            raise EmbeddingFailed(
                "the Embedder deployment failed", details={"reason": "provider_error", "error": str(exc)[:300]}
            ) from exc
        return vectors


def result_from_dict(r: dict[str, Any]) -> SearchResult:
    """The inverse of ``SearchResult.as_dict`` (what the Searcher deployment returns)."""
    return SearchResult(
        doc_id=UUID(r["doc_id"]),
        chunk_id=UUID(r["chunk_id"]),
        chunk=r["chunk"],
        score=r["score"],
        source=r["source"],
        title=r["title"],
        page=r["page"],
        chunk_index=r["chunk_index"],
        heading=r["heading"],
        space_id=None if r["space_id"] is None else UUID(r["space_id"]),
    )


class ServeSearcher:
    """Hybrid search through the ``Searcher`` deployment (``actors.search.SearchFn``).

    Takes the handle, or a function that returns it: resolved on the first search, so an
    agent actor does not pay for the Serve controller round trip when it activates.
    """

    def __init__(self, handle: Any = None, *, handle_factory: Callable[[], Any] | None = None) -> None:
        if (handle is None) == (handle_factory is None):
            raise ValueError("pass a handle or a handle_factory")
        self._handle = handle
        self._factory = handle_factory

    async def search(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        if self._handle is None:
            assert self._factory is not None
            self._handle = await asyncio.to_thread(self._factory)  # a blocking controller call
        try:
            rows: list[dict[str, Any]] = await self._handle.search.remote(
                str(tenant_id), query, k, None if space_id is None else str(space_id)
            )
        except Exception as exc:  # Ray wraps replica errors and unavailability alike
            raise DependencyUnavailable("knowledge search is unavailable", details={"error": str(exc)[:300]}) from exc
        return [result_from_dict(r) for r in rows]

    async def __call__(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        return await self.search(tenant_id, query, k, space_id)


class SearcherQueryEmbedder(_ModelInfo):
    """``Embedder`` over the ``Searcher`` deployment's query model (its ``embed_queries``).

    Takes the handle, or a function that returns it (blocking: run in a thread), resolved
    by ``load()``, which also fetches the model's name, dimension and window once."""

    def __init__(self, handle: Any = None, *, handle_factory: Callable[[], Any] | None = None) -> None:
        if (handle is None) == (handle_factory is None):
            raise ValueError("pass a handle or a handle_factory")
        self._handle = handle
        self._factory = handle_factory
        self._info: dict[str, Any] | None = None
        self._loading: asyncio.Lock | None = None

    @property
    def loaded(self) -> bool:
        return self._info is not None

    async def load(self) -> SearcherQueryEmbedder:
        if self._info is not None:
            return self
        self._loading = self._loading or asyncio.Lock()
        async with self._loading:  # concurrent first searches: one controller call, one info call
            if self._info is None:
                try:
                    if self._handle is None:
                        assert self._factory is not None
                        self._handle = await asyncio.to_thread(self._factory)
                    self._info = dict(await self._handle.embedding_model.remote())
                except Exception as exc:  # Ray wraps replica errors and unavailability alike
                    raise DependencyUnavailable(
                        "knowledge search is unavailable", details={"error": str(exc)[:300]}
                    ) from exc
        return self

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        await self.load()
        try:
            raw: bytes = await self._handle.embed_queries.remote(list(texts))
        except Exception as exc:  # Ray wraps replica errors; all mean "the model failed us"
            raise EmbeddingFailed(
                "the Searcher's query model failed", details={"reason": "provider_error", "error": str(exc)[:300]}
            ) from exc
        flat = array("f")
        flat.frombytes(raw)
        dim = self.dim
        if len(flat) != dim * len(texts):
            raise EmbeddingFailed(
                "the Searcher returned vectors of the wrong size",
                details={"reason": "provider_error", "expected": dim * len(texts), "got": len(flat)},
            )
        return [flat[i * dim : (i + 1) * dim].tolist() for i in range(len(texts))]


class ModelServedSearcher:
    """Hybrid search in this process, query embeddings from the Searcher's model
    (``actors.search.SearchFn``; see the module docstring).

    A failure is ``DependencyUnavailable`` as through ``ServeSearcher`` (an agent's tool
    call reports it to the model instead of failing the run)."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, cache: redis.Redis | None, embedder: SearcherQueryEmbedder
    ) -> None:
        self._embedder = embedder
        self._searcher = HybridSearcher.from_settings(settings, pool, embedder, cache)

    async def load(self) -> None:
        """Resolve the Searcher and its model's name (a head start; the first search does it too)."""
        await self._embedder.load()

    async def search(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        try:
            await self._embedder.load()
            return await self._searcher.search(tenant_id, query, k, space_id)
        except Exception as exc:  # as ServeSearcher reported any failure of the Searcher
            raise DependencyUnavailable("knowledge search is unavailable", details={"error": str(exc)[:300]}) from exc

    async def __call__(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        return await self.search(tenant_id, query, k, space_id)


__all__ = ["ModelServedSearcher", "SearcherQueryEmbedder", "ServeEmbedder", "ServeSearcher", "result_from_dict"]
