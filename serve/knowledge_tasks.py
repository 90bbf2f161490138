"""Ray entry points of the knowledge pipeline: one task per upload, one per reindex job,
one per page range of a large PDF.

Thin wrappers: nothing crosses the process boundary but ids; each worker process builds
one pool, storage client, tokenizer and Embedder handle (``_Worker``) the first time it runs
a knowledge task, or ahead of time in ``warm_ingest_worker`` (the sweeper warms one worker
per CPU at start), and every later task in that process reuses them. Tasks embed through
the ``Embedder`` deployment and run the plain async code of ``knowledge.ingest`` /
``knowledge.reindex``. Transient failures are retried inside (exponential backoff);
``max_retries`` covers the worker process dying (OOM, node loss). A task reserves one CPU
so that at most ``num_cpus`` uploads parse at once.

Page ranges (``RayPageRanges``): an upload task parses a large PDF's first pages itself and
submits the other ranges as ``parse_pdf_range_task`` (1 CPU each: a range is one
single-threaded parser child). It waits for them with ``ray.get`` **on the task's main
thread**: only there does Ray count the waiting task as blocked and lend its CPU to the
ranges; waiting from the event-loop thread would hold the CPU and, with every CPU held by an
upload task, deadlock (measured on Ray 2.60).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import httpx
import ray
from pydantic import BaseModel, ConfigDict
from ray import serve

from core.errors import DependencyUnavailable, TridiumError
from core.logging import setup_logging
from core.settings import Settings
from core.tenancy import TenantId
from db.pool import create_pool
from knowledge.factory import make_ingestor
from knowledge.ingest import Ingestor
from knowledge.parsing.model import ParseOptions
from knowledge.parsing.pdf_pages import PdfPages
from knowledge.pdf_ranges import PageRange
from knowledge.reindex import run_job
from knowledge.remote import ServeEmbedder
from knowledge.sandbox_parse import SandboxLimits, parse_pdf_pages_in_sandbox, raise_reply_error
from tools.storage import storage_from_settings

log = logging.getLogger("tridium.knowledge.tasks")
T = TypeVar("T")


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


_main_calls: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.SimpleQueue()
_main_serving = threading.Event()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on this worker process's one event loop, kept running in a thread.

    A Serve handle binds to the loop it is first used on and needs that loop to keep
    running (its router long-polls the controller); ``asyncio.run`` per task would leave
    every later task in a reused worker with a handle bound to a dead loop. Meanwhile this
    (the task's main) thread runs the blocking calls ``_on_main_thread`` hands it.
    """
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="knowledge-loop", daemon=True).start()
    future = asyncio.run_coroutine_threadsafe(coro, _loop)
    _main_serving.set()
    try:
        while not future.done():
            try:
                fn, out = _main_calls.get(timeout=0.05)
            except queue.Empty:
                continue
            if out.set_running_or_notify_cancel():
                try:
                    out.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed back to the awaiting coroutine
                    out.set_exception(exc)
    finally:
        _main_serving.clear()
    return future.result()


async def _on_main_thread(fn: Callable[[], T]) -> T:
    """Run blocking ``fn`` (a ``ray.get``) on the task's main thread and await its result."""
    if not _main_serving.is_set():  # not inside _run: no main thread to lend, use a thread
        return await asyncio.to_thread(fn)
    out: concurrent.futures.Future[T] = concurrent.futures.Future()
    _main_calls.put((fn, out))
    return await asyncio.wrap_future(out)


class PageRangeRequest(BaseModel):
    """One page range of a PDF to parse (the PDF's bytes travel beside it, by object ref)."""

    model_config = ConfigDict(frozen=True)

    first: int
    last: int
    options: dict[str, Any]
    limits: dict[str, Any]


@ray.remote(num_cpus=1, max_retries=2)
def parse_pdf_range_task(data: bytes, request: PageRangeRequest) -> dict[str, Any]:
    """Pages ``first..last`` parsed in a sandboxed child; replies with the sandbox's JSON
    (``{"ok": true, "pages": …}`` or ``{"ok": false, "error": code, "reason": …}``)."""
    try:
        pages = parse_pdf_pages_in_sandbox(
            data,
            request.first,
            request.last,
            options=ParseOptions(**request.options),
            limits=SandboxLimits(**request.limits),
        )
    except TridiumError as exc:
        reason = getattr(exc, "reason", None) or exc.message
        return {"ok": False, "error": exc.code, "reason": reason, "details": exc.details}
    return {"ok": True, "pages": pages.to_json()}


class RayPageRanges:
    """``PageRangeRunner`` over Ray tasks: the ranges of one PDF spread over the cluster."""

    async def __call__(
        self, data: bytes, ranges: Sequence[PageRange], options: ParseOptions, limits: SandboxLimits
    ) -> list[PdfPages]:
        blob = ray.put(data)  # one copy in the object store, shared by every range
        refs = [
            parse_pdf_range_task.remote(
                blob, PageRangeRequest(first=first, last=last, options=asdict(options), limits=asdict(limits))
            )
            for first, last in ranges
        ]
        try:
            replies: list[dict[str, Any]] = await _on_main_thread(lambda: ray.get(refs))
        except ray.exceptions.RayError as exc:
            for ref in refs:
                ray.cancel(ref)
            raise DependencyUnavailable(
                "a page range of the PDF could not be parsed (worker lost)", details={"error": str(exc)[:300]}
            ) from exc
        for reply in replies:
            raise_reply_error(reply)
        log.info("parsed %d page ranges in parallel", len(ranges))
        return [PdfPages.from_json(reply["pages"]) for reply in replies]


class _Worker:
    """What every knowledge task of this worker process shares, built once on its loop.

    Ray reuses a worker process for many tasks; building the pool, the storage client, the
    tokenizer and the Embedder's handle per task cost more CPU than embedding a small file.
    They live as long as the process (Ray ends it; the pool's connections close with it).
    """

    def __init__(self) -> None:
        self.settings = Settings()
        setup_logging(self.settings.log_level)
        self.pool: asyncpg.Pool | None = None
        self.client = httpx.AsyncClient(timeout=60)
        self.embedder: ServeEmbedder | None = None
        self.ingestor: Ingestor | None = None

    async def get(self) -> Ingestor:
        if self.ingestor is None:
            if self.pool is None:
                self.pool = await create_pool(self.settings.require_database_url(), min_size=1, max_size=2)
            if self.embedder is None:
                handle = serve.get_deployment_handle("Embedder", app_name="tridium")
                self.embedder = await ServeEmbedder(handle).load()
            blobs = storage_from_settings(self.settings, self.client)
            self.ingestor = make_ingestor(self.settings, self.pool, self.embedder, blobs, page_ranges=RayPageRanges())
        return self.ingestor


_worker: _Worker | None = None


async def _with_ingestor(fn: Callable[[Ingestor], Awaitable[T]]) -> T:
    global _worker
    if _worker is None:
        _worker = _Worker()
    return await fn(await _worker.get())


@ray.remote(num_cpus=1, max_retries=0)
def warm_ingest_worker(wait_s: float = 120.0) -> bool:
    """Build this worker's pool, tokenizer and Embedder handle ahead of the first upload
    (imports included); False if the Embedder did not answer in ``wait_s``."""

    async def warm() -> bool:
        try:
            await asyncio.wait_for(_with_ingestor(lambda ing: asyncio.sleep(0, True)), wait_s)
        except (TimeoutError, DependencyUnavailable):
            return False
        return True

    return _run(warm())


def warm_ingest_workers() -> list[ray.ObjectRef[bool]]:
    """One warm-up task per CPU of the cluster (at most 8), so that many workers are warm."""
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    return [warm_ingest_worker.remote() for _ in range(max(1, min(cpus, 8)))]


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


def submit_upload_ref(tenant_id: TenantId, upload_id: UUID) -> ray.ObjectRef[str]:
    """Submit an upload's task; the ref resolves to its final status (``knowledge.dispatch``)."""
    ref: ray.ObjectRef[str] = ingest_upload_task.remote(str(tenant_id), str(upload_id))
    return ref


def submit_upload(tenant_id: TenantId, upload_id: UUID) -> None:
    """Fire and forget (the gateway's fallback when the sweeper is unreachable): the result
    lands in kb_uploads; the sweeper covers a lost task."""
    submit_upload_ref(tenant_id, upload_id)


def submit_job(tenant_id: TenantId, job_id: UUID) -> None:
    reindex_job_task.remote(str(tenant_id), str(job_id))


__all__ = [
    "PageRangeRequest",
    "RayPageRanges",
    "ingest_upload_task",
    "parse_pdf_range_task",
    "reindex_job_task",
    "submit_job",
    "submit_upload",
    "submit_upload_ref",
    "warm_ingest_worker",
    "warm_ingest_workers",
]
