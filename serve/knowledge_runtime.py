"""How the gateway reaches the knowledge pipeline: in-process, or through Ray.

* ``RayKnowledge`` (the gateway runs under Ray Serve): search goes to the ``Searcher``
  deployment; ingestion is a Ray task per upload, handed to the ``KnowledgeSweeper``
  deployment right after the upload's transaction commits, which submits it at once and
  tracks it (``knowledge.dispatch``). If the sweeper does not take it within
  ``_HANDOVER_S`` the gateway submits the task itself: a new upload never waits for a
  sweep. The sweeper re-submits uploads left ``queued`` (or stuck) for longer than
  ``kb_sweep_grace_s`` with no task in flight: a gateway that crashed between commit and
  hand-over, a task lost with its node.
* ``LocalKnowledge`` (plain uvicorn, integration tests): the same ``Ingestor`` and
  ``HybridSearcher`` in this process; ingestion runs as an asyncio task (parsing still in
  the sandboxed child process, encoding in a thread). Nothing re-submits after a crash
  here; a later start of the Ray platform's sweeper picks such uploads up.

``TRIDIUM_KB_INGEST`` = auto | ray | local picks one (auto: Ray when initialised).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, Protocol
from uuid import UUID

import httpx
from fastapi import Request

from core.settings import Settings
from core.tenancy import TenantId
from knowledge.blobs import BlobStore
from knowledge.embedding import Embedder
from knowledge.factory import make_embedder, make_ingestor, make_searcher, uses_remote_embeddings
from knowledge.ingest import Ingestor
from knowledge.reindex import run_job
from knowledge.remote import ServeSearcher
from knowledge.search import HybridSearcher, SearchResult
from knowledge.tokenizer import DEFAULT_MODEL_NAME
from tools.storage import storage_from_settings

from .state import AppState

log = logging.getLogger("tridium.knowledge")


class KnowledgeRuntime(Protocol):
    blobs: BlobStore
    model: str

    async def search(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]: ...

    def dispatch_upload(self, tenant_id: TenantId, upload_id: UUID) -> None: ...

    def dispatch_job(self, tenant_id: TenantId, job_id: UUID) -> None: ...

    async def close(self) -> None: ...


_background: set[asyncio.Task[Any]] = set()


def _keep(task: asyncio.Task[Any]) -> None:
    _background.add(task)
    task.add_done_callback(_background.discard)


class LocalKnowledge:
    def __init__(self, state: AppState) -> None:
        settings = state.settings
        self._client = httpx.AsyncClient(timeout=60)
        self.blobs = storage_from_settings(settings, self._client)
        self._embedder: Embedder = make_embedder(settings, self._client)
        self.model = self._embedder.model_name
        self.ingestor: Ingestor = make_ingestor(settings, state.pool, self._embedder, self.blobs)
        self.searcher: HybridSearcher = make_searcher(settings, state.pool, self._embedder, state.redis)

    async def search(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        return await self.searcher.search(tenant_id, query, k, space_id)

    def dispatch_upload(self, tenant_id: TenantId, upload_id: UUID) -> None:
        _keep(asyncio.create_task(self._run_upload(tenant_id, upload_id)))

    async def _run_upload(self, tenant_id: TenantId, upload_id: UUID) -> None:
        try:
            await self.ingestor.ingest_upload(tenant_id, upload_id)
        except Exception:
            log.exception("in-process ingestion of %s failed", upload_id)  # recorded on the upload

    def dispatch_job(self, tenant_id: TenantId, job_id: UUID) -> None:
        _keep(asyncio.create_task(run_job(self.ingestor, tenant_id, job_id)))

    async def close(self) -> None:
        for task in list(_background):
            task.cancel()
        close = getattr(self._embedder, "close", None)
        if close is not None:
            close()  # the lane threads
        await self._client.aclose()


_HANDOVER_S = 5.0  # the sweeper answers in ms; longer means it is down or restarting


async def _awaited(response: Any) -> Any:
    return await response


class RayKnowledge:
    def __init__(self, state: AppState) -> None:
        from ray import serve

        settings = state.settings
        self._client = httpx.AsyncClient(timeout=60)
        self.blobs = storage_from_settings(settings, self._client)
        self.model = (
            settings.embed_model if uses_remote_embeddings(settings) and settings.embed_model else DEFAULT_MODEL_NAME
        )
        self._searcher = ServeSearcher(serve.get_deployment_handle("Searcher", app_name="tridium"))
        self._sweeper = serve.get_deployment_handle("KnowledgeSweeper", app_name="tridium")

    async def search(self, tenant_id: TenantId, query: str, k: int, space_id: UUID | None) -> list[SearchResult]:
        return await self._searcher.search(tenant_id, query, k, space_id)

    def dispatch_upload(self, tenant_id: TenantId, upload_id: UUID) -> None:
        _keep(asyncio.create_task(self._hand_over(tenant_id, upload_id)))

    async def _hand_over(self, tenant_id: TenantId, upload_id: UUID) -> None:
        response = self._sweeper.take_upload.remote(str(tenant_id), str(upload_id))
        try:
            await asyncio.wait_for(asyncio.ensure_future(_awaited(response)), _HANDOVER_S)
            return
        except Exception as exc:  # noqa: BLE001 - any failure to hand over: submit it here instead
            response.cancel()  # type: ignore[no-untyped-call]
            log.warning("knowledge sweeper unavailable (%s): submitting upload %s from the gateway", exc, upload_id)
        from .knowledge_tasks import submit_upload

        # A hand-over that still arrives later only queues a second task, which finds the
        # upload claimed and skips it (store.claim_upload): never a second run.
        submit_upload(tenant_id, upload_id)

    def dispatch_job(self, tenant_id: TenantId, job_id: UUID) -> None:
        from .knowledge_tasks import submit_job

        submit_job(tenant_id, job_id)

    async def close(self) -> None:
        await self._client.aclose()


def _mode(settings: Settings) -> str:
    mode = settings.kb_ingest
    if mode == "auto":
        ray = sys.modules.get("ray")
        mode = "ray" if ray is not None and ray.is_initialized() else "local"
    return mode


def knowledge_of(request: Request, state: AppState) -> KnowledgeRuntime:
    """The process's knowledge runtime, built on first use (loading a model takes seconds)."""
    rt: KnowledgeRuntime | None = getattr(request.app.state, "knowledge", None)
    if rt is None:
        rt = RayKnowledge(state) if _mode(state.settings) == "ray" else LocalKnowledge(state)
        request.app.state.knowledge = rt
    return rt


__all__ = ["KnowledgeRuntime", "LocalKnowledge", "RayKnowledge", "knowledge_of"]
