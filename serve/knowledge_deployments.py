"""Serve deployments of the knowledge base: Embedder, Searcher, KnowledgeSweeper.

* ``Embedder`` holds the embedding model once. The local model on CPU runs its own lanes
  (``knowledge.embedding``: single-threaded encode lanes over one model copy, fed with
  length-sorted groups of every call), so calls go straight to it: two ingestion tasks'
  batches interleave on the lanes instead of waiting for each other. A remote
  (OpenAI-compatible) model or one on CUDA keeps ``@serve.batch``, which merges calls that
  arrive together into one request. It asks for a GPU when the cluster has one.
* ``Searcher`` runs hybrid search (``knowledge.search``). It embeds queries with its own
  in-process copy of the model instead of calling the Embedder: a query would otherwise
  wait behind a batch of ingestion chunks (seconds on CPU); a query costs a few ms. Agent
  actors run the search SQL themselves and ask it only for the embedding of a query that
  is not in the Redis cache (``embed_queries``; ``knowledge.remote.SearcherQueryEmbedder``).
* ``KnowledgeSweeper`` submits the ingestion tasks and repairs what was lost
  (``knowledge.dispatch.UploadDispatcher``): the gateway hands it each new upload right
  after commit (``take_upload``), and it remembers which uploads have a task waiting or
  running. Every ``kb_sweep_interval_s`` it re-submits uploads ``queued`` for longer than
  ``kb_sweep_grace_s`` **with no task of its own in flight** (a gateway that died before
  handing over, a task lost with its node or with a previous sweeper, a transient failure
  re-queued), and uploads stuck running for 10 times the grace. A queued upload whose task is
  only waiting for a free CPU is left alone. At start it warms the ingestion workers
  (``warm_ingest_worker``). If the sweeper is unreachable the gateway submits the task
  itself (``serve.knowledge_runtime``): a new upload never waits for a sweep.

All reserve no CPU (see serve.deployments): the CPU-heavy parts are the model's lanes
and the ingestion tasks, which reserve theirs.
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from typing import Any
from uuid import UUID

import httpx
import redis.asyncio as redis
from ray import serve

from core.logging import setup_logging
from core.settings import Settings
from core.tenancy import TenantId
from db.bus import STOP_TIMEOUT_S, cancel_and_wait
from db.pool import create_pool, tenant_tx
from knowledge import store
from knowledge.dispatch import UploadDispatcher
from knowledge.embedding import Embedder
from knowledge.factory import make_embedder, make_searcher

log = logging.getLogger("tridium.knowledge.serve")


@serve.deployment(name="Embedder", num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
class EmbedderDeployment:
    def __init__(self) -> None:
        settings = Settings()
        setup_logging(settings.log_level)
        self._client = httpx.AsyncClient(timeout=60)
        self._embedder: Embedder = make_embedder(settings, self._client)

    async def info(self) -> dict[str, Any]:
        return {
            "model": self._embedder.model_name,
            "dim": self._embedder.dim,
            "max_tokens": self._embedder.max_tokens,
            "device": getattr(self._embedder, "device", "remote"),
            "lanes": getattr(self._embedder, "lanes", 1),
        }

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if getattr(self._embedder, "lanes", 1) > 1:  # the lanes batch and interleave calls themselves
            return await self._embedder.embed(texts)
        result: list[list[float]] = await self._batched(texts)
        return result

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def _batched(self, requests: list[list[str]]) -> list[list[list[float]]]:
        flat = [text for texts in requests for text in texts]
        vectors = await self._embedder.embed(flat)
        out: list[list[list[float]]] = []
        start = 0
        for texts in requests:
            out.append(vectors[start : start + len(texts)])
            start += len(texts)
        return out

    async def __del__(self) -> None:
        close = getattr(self._embedder, "close", None)
        if close is not None:
            close()
        await self._client.aclose()


@serve.deployment(name="Searcher", num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64)
class SearcherDeployment:
    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        settings = Settings()
        setup_logging(settings.log_level)
        self._pool = await create_pool(settings.require_database_url(), min_size=1, max_size=8)
        self._redis = redis.from_url(settings.require_redis_url(), socket_timeout=2, socket_connect_timeout=2)
        self._client = httpx.AsyncClient(timeout=30)
        self._embedder = make_embedder(settings, self._client)
        self._searcher = make_searcher(settings, self._pool, self._embedder, self._redis)

    async def search(self, tenant_id: str, query: str, k: int, space_id: str | None) -> list[dict[str, Any]]:
        results = await self._searcher.search(
            TenantId(UUID(tenant_id)), query, k, None if space_id is None else UUID(space_id)
        )
        return [r.as_dict() for r in results]

    async def model(self) -> str:
        return self._searcher.model

    async def embedding_model(self) -> dict[str, Any]:
        """The query model's name, dimension and window (``knowledge.remote.SearcherQueryEmbedder``)."""
        return {"model": self._embedder.model_name, "dim": self._embedder.dim, "max_tokens": self._embedder.max_tokens}

    async def embed_queries(self, queries: list[str]) -> bytes:
        """Embed queries with this replica's model, uncached (the caller caches): agent actors
        run the search SQL themselves and come here only for a query not in the cache.
        float32 bytes, one vector after the other (a quarter of a pickled list of floats)."""
        vectors = await self._embedder.embed(queries)
        return b"".join(array("f", v).tobytes() for v in vectors)

    async def __del__(self) -> None:
        await self._client.aclose()
        await self._redis.aclose()
        await self._pool.close()


@serve.deployment(name="KnowledgeSweeper", num_replicas=1, ray_actor_options={"num_cpus": 0})
class KnowledgeSweeper:
    async def __init__(self, embedder: Any = None, searcher: Any = None) -> None:  # type: ignore[misc]
        from .knowledge_tasks import submit_upload_ref, warm_ingest_workers

        # The handles are bound only so the Embedder and Searcher are part of the application.
        self._bound = (embedder, searcher)
        self._settings = Settings()
        setup_logging(self._settings.log_level)
        self._pool = await create_pool(self._settings.require_database_url(), min_size=1, max_size=2)
        self._dispatcher = UploadDispatcher(submit_upload_ref)
        self._warm = warm_ingest_workers()
        self._task = asyncio.create_task(self._loop())

    async def take_upload(self, tenant_id: str, upload_id: str) -> bool:
        """Submit the task of a new (or replayed) upload now; False: one is already in flight."""
        return self._dispatcher.dispatch(TenantId(UUID(tenant_id)), UUID(upload_id))

    async def _loop(self) -> None:
        interval = self._settings.kb_sweep_interval_s
        grace = self._settings.kb_sweep_grace_s
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._pool.acquire() as conn:
                    tenants = await store.tenants_with_pending(conn, grace_s=grace)
                for tenant_id in tenants:
                    async with tenant_tx(self._pool, tenant_id) as conn:
                        pending = await store.pending_uploads(conn, tenant_id, grace_s=grace)
                    for upload_id in self._dispatcher.repair(tenant_id, pending):
                        log.info("sweeper re-submitted upload %s", upload_id)
            except Exception:  # keep sweeping: the next round may find the database back
                log.exception("knowledge sweeper round failed")

    async def stats(self) -> dict[str, Any]:
        return {"ok": not self._task.done(), **self._dispatcher.stats()}

    async def check_health(self) -> None:
        if self._task.done():
            raise RuntimeError("knowledge sweeper stopped")

    async def __del__(self) -> None:
        await cancel_and_wait([self._task], STOP_TIMEOUT_S, type(self).__name__)
        await self._dispatcher.close()
        await self._pool.close()


def bind_knowledge(options: dict[str, Any]) -> Any:
    """The knowledge part of the application graph (an Embedder on GPU when there is one)."""
    import ray

    embedder_options = dict(options)
    if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1:  # type: ignore[no-untyped-call]
        embedder_options["num_gpus"] = 1
    embedder: Any = EmbedderDeployment
    searcher: Any = SearcherDeployment
    sweeper: Any = KnowledgeSweeper
    return sweeper.options(ray_actor_options=options).bind(
        embedder.options(ray_actor_options=embedder_options).bind(),
        searcher.options(ray_actor_options=options).bind(),
    )


__all__ = ["EmbedderDeployment", "KnowledgeSweeper", "SearcherDeployment", "bind_knowledge"]
