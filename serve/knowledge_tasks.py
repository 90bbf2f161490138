"""Ray entry points of the knowledge pipeline: one task per upload, one per reindex job.

Thin wrappers: each task builds its own pool and storage client (nothing crosses the
process boundary but ids), embeds through the ``Embedder`` deployment, and runs the plain
async code of ``knowledge.ingest`` / ``knowledge.reindex``. Transient failures are retried
inside (exponential backoff); ``max_retries`` covers the worker process dying (OOM, node
loss). A task reserves one CPU so that at most ``num_cpus`` uploads parse at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from uuid import UUID

import httpx
import ray
from ray import serve

from core.logging import setup_logging
from core.settings import Settings
from core.tenancy import TenantId
from db.pool import create_pool
from knowledge.factory import make_ingestor
from knowledge.ingest import Ingestor
from knowledge.reindex import run_job
from knowledge.remote import ServeEmbedder
from tools.storage import storage_from_settings

log = logging.getLogger("tridium.knowledge.tasks")
T = TypeVar("T")


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on this worker process's one event loop, kept running in a thread.

    A Serve handle binds to the loop it is first used on and needs that loop to keep
    running (its router long-polls the controller); ``asyncio.run`` per task would leave
    every later task in a reused worker with a handle bound to a dead loop.
    """
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="knowledge-loop", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coro, _loop).result()


_embedder: ServeEmbedder | None = None


async def _with_ingestor(fn: Callable[[Ingestor], Awaitable[T]]) -> T:
    global _embedder
    settings = Settings()
    setup_logging(settings.log_level)
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
    client = httpx.AsyncClient(timeout=60)
    try:
        if _embedder is None:
            _embedder = await ServeEmbedder(serve.get_deployment_handle("Embedder", app_name="tridium")).load()
        ingestor = make_ingestor(settings, pool, _embedder, storage_from_settings(settings, client))
        return await fn(ingestor)
    finally:
        await client.aclose()
        await pool.close()


@ray.remote(num_cpus=1, max_retries=2)
def ingest_upload_task(tenant_id: str, upload_id: str) -> str:
    """Queued upload → embedded | failed (or re-queued after transient failures)."""
    tenant, upload = TenantId(UUID(tenant_id)), UUID(upload_id)
    result: str = _run(_with_ingestor(lambda ing: ing.ingest_upload(tenant, upload)))
    return result


@ray.remote(num_cpus=1, max_retries=1)
def reindex_job_task(tenant_id: str, job_id: str) -> str:
    tenant, job = TenantId(UUID(tenant_id)), UUID(job_id)
    out = _run(_with_ingestor(lambda ing: run_job(ing, tenant, job)))
    return str(out["status"])


def submit_upload(tenant_id: TenantId, upload_id: UUID) -> None:
    """Fire and forget: the result lands in kb_uploads; the sweeper covers a lost task."""
    ingest_upload_task.remote(str(tenant_id), str(upload_id))


def submit_job(tenant_id: TenantId, job_id: UUID) -> None:
    reindex_job_task.remote(str(tenant_id), str(job_id))


__all__ = ["ingest_upload_task", "reindex_job_task", "submit_job", "submit_upload"]
