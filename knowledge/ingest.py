"""Ingestion: one upload from queued to embedded (or failed, with a reason).

::

    claim (queued → parsing) → read blob → parse in the sandbox (memory/CPU/wall caps)
      (PDFs over 16 pages: page ranges in parallel, merged) → mask PII (if the space asks)
      → store the document → chunk by the embedder's tokens
      → parsed → embed in batches (reusing vectors whose content_hash is unchanged)
      → upsert vectors by (doc, model, chunk_index), progress after every batch → embedded

Plain async code over a pool, an :class:`~knowledge.embedding.Embedder` and a
:class:`~knowledge.blobs.BlobStore`: the Ray task (``serve.knowledge_tasks``), the in-process
runner of plain-uvicorn mode and the tests all call :meth:`Ingestor.ingest_upload`.

Idempotent: a run claims the upload atomically (a second runner finds it taken), and
vectors are keyed by (doc, model, chunk_index), so running an upload twice never duplicates
chunks. Transient failures (embedder, database, storage down) are retried here with
exponential backoff; if they persist the upload goes back to ``queued`` for the sweeper,
until ``max_attempts`` runs have failed. Bad files fail at once with the parser's reason.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.errors import ClientError, DependencyUnavailable, NotFound
from core.tenancy import TenantId
from db.pool import tenant_tx
from knowledge import store
from knowledge.blobs import BlobStore
from knowledge.chunking import Chunk, ChunkingPolicy, chunk_document
from knowledge.embedding import Embedder
from knowledge.errors import EmbeddingFailed
from knowledge.parsing import parse_document
from knowledge.parsing.model import ParsedDocument, ParseOptions
from knowledge.pdf_ranges import PageRangeRunner, ThreadPageRanges, parse_pdf_in_ranges
from knowledge.pii import mask_document
from knowledge.sandbox_parse import SandboxLimits, parse_in_sandbox
from knowledge.sniff import DocKind, sniff_bytes
from knowledge.tokenizer import TokenCounter

log = logging.getLogger("tridium.knowledge.ingest")
T = TypeVar("T")

ProgressFn = Callable[[int], Awaitable[None]]


def is_transient(exc: BaseException) -> bool:
    """Failures worth retrying: our dependencies, not the file."""
    if isinstance(exc, NotFound):
        return False
    return isinstance(
        exc,
        EmbeddingFailed | DependencyUnavailable | asyncpg.PostgresConnectionError | ConnectionError | TimeoutError,
    )


@dataclass
class Ingestor:
    pool: asyncpg.Pool
    embedder: Embedder
    blobs: BlobStore
    tokenizer: TokenCounter
    options: ParseOptions = field(default_factory=ParseOptions)
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    batch_size: int = 128
    inprocess_text_bytes: int = 2 * 1024 * 1024
    pdf_range_pages: int = 16  # longer PDFs are parsed in ranges of this many pages; 0: never
    page_ranges: PageRangeRunner = field(default_factory=ThreadPageRanges)
    stale_s: float = 300.0
    max_attempts: int = 3
    retry_attempts: int = 3
    retry_max_wait_s: float = 8.0

    @property
    def policy(self) -> ChunkingPolicy:
        return ChunkingPolicy.for_window(self.embedder.max_tokens, special_tokens=self.tokenizer.special_tokens)

    async def _retrying(self, fn: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_exponential(multiplier=0.5, max=self.retry_max_wait_s),
            reraise=True,
        ):
            with attempt:
                return await fn()
        raise AssertionError("unreachable")  # pragma: no cover

    def parse(self, data: bytes, filename: str) -> ParsedDocument:
        """Parse untrusted bytes (blocking: call from a thread).

        PDF, DOCX and HTML go through native parsers (PDFium, Tesseract, libxml2): always
        in the sandboxed child process. Small Markdown and plain text are parsed by our own
        linear pure-Python code, here: the child's ~0.5 s start-up would otherwise cost as
        much CPU as embedding the file (bench/ingest.py).
        """
        if len(data) <= self.inprocess_text_bytes:
            kind = sniff_bytes(data, filename=filename).kind
            if kind in (DocKind.MARKDOWN, DocKind.TEXT):
                return parse_document(data, kind=kind, options=self.options)
        return parse_in_sandbox(data, filename=filename, options=self.options, limits=self.limits)

    async def parse_upload(self, data: bytes, filename: str) -> ParsedDocument:
        """Parse an upload off the event loop; PDFs longer than ``pdf_range_pages`` pages are
        parsed in page ranges in parallel (``knowledge.pdf_ranges``), with the same result."""
        if self.pdf_range_pages > 0 and sniff_bytes(data, filename=filename).kind is DocKind.PDF:
            return await parse_pdf_in_ranges(
                data,
                range_pages=self.pdf_range_pages,
                runner=self.page_ranges,
                options=self.options,
                limits=self.limits,
            )
        return await asyncio.to_thread(self.parse, data, filename)

    # Uploads -------------------------------------------------------------------------------

    async def ingest_upload(self, tenant_id: TenantId, upload_id: UUID) -> str:
        """Run one upload to the end; returns its final status, or ``skipped`` if taken."""
        async with tenant_tx(self.pool, tenant_id) as conn:
            claim = await store.claim_upload(conn, tenant_id, upload_id, stale_s=self.stale_s)
        if claim is None:
            return "skipped"
        try:
            await self._ingest(tenant_id, claim)
        except ClientError as exc:
            reason = getattr(exc, "reason", None) or exc.message
            await self._set_status(tenant_id, upload_id, "failed", error=reason)
            return "failed"
        except Exception as exc:
            if is_transient(exc) and claim.attempts < self.max_attempts:
                log.warning("upload %s: transient failure, requeued: %s", upload_id, exc)
                async with tenant_tx(self.pool, tenant_id) as conn:
                    await store.requeue_upload(conn, tenant_id, upload_id, f"retrying: {_message(exc)}")
                return "queued"
            reason = (
                f"gave up after {claim.attempts} attempts: {_message(exc)}"
                if is_transient(exc)
                else f"internal error ({type(exc).__name__})"
            )
            log.exception("upload %s failed", upload_id)
            await self._set_status(tenant_id, upload_id, "failed", error=reason)
            if not is_transient(exc):
                raise
            return "failed"
        return "embedded"

    async def _set_status(self, tenant_id: TenantId, upload_id: UUID, status: str, **kw: Any) -> None:
        async def run() -> None:
            async with tenant_tx(self.pool, tenant_id) as conn:
                await store.set_upload_status(conn, tenant_id, upload_id, status, **kw)

        await self._retrying(run)

    async def _ingest(self, tenant_id: TenantId, claim: store.ClaimedUpload) -> None:
        data = await self._retrying(lambda: self.blobs.get(claim.path))
        doc = await self.parse_upload(data, claim.filename)
        if claim.pii_masking:
            doc = mask_document(doc)
        chunks = await asyncio.to_thread(chunk_document, doc, self.tokenizer, self.policy)
        title = claim.title or doc.title or claim.filename
        meta = {"parsed": _parsed_meta(doc), "sha256": hashlib.sha256(data).hexdigest(), "filename": claim.filename}

        async def save_doc() -> UUID:
            async with tenant_tx(self.pool, tenant_id) as conn:
                doc_id = await store.upsert_doc(
                    conn,
                    tenant_id,
                    space_id=claim.space_id,
                    upload_id=claim.id,
                    title=title,
                    body=doc.text,
                    source=claim.filename,
                    kind=doc.kind.value,
                    page_count=doc.page_count,
                    meta=meta,
                )
                await store.set_upload_status(
                    conn, tenant_id, claim.id, "parsed", chunks_done=0, chunks_total=len(chunks)
                )
                return doc_id

        doc_id = await self._retrying(save_doc)
        await self._set_status(tenant_id, claim.id, "embedding", chunks_done=0, chunks_total=len(chunks))

        async def progress(done: int) -> None:
            async with tenant_tx(self.pool, tenant_id) as conn:
                await store.set_upload_status(conn, tenant_id, claim.id, "embedding", chunks_done=done)

        await self.embed_chunks(tenant_id, doc_id, claim.space_id, chunks, progress=progress)
        await self._set_status(tenant_id, claim.id, "embedded", chunks_done=len(chunks), chunks_total=len(chunks))

    # Documents (uploads and reindex) -------------------------------------------------------

    async def reindex_doc(self, tenant_id: TenantId, doc_id: UUID, *, prune_models: bool = False) -> int:
        """Re-chunk a stored document and embed it with the current model; returns chunks.

        Works from the stored (already masked) text and sections, so neither the original
        file nor OCR is needed again; unchanged chunks reuse their stored vectors.
        """
        async with tenant_tx(self.pool, tenant_id) as conn:
            row = await store.get_doc(conn, tenant_id, doc_id)
        doc = _stored_document(row)
        chunks = await asyncio.to_thread(chunk_document, doc, self.tokenizer, self.policy)
        await self.embed_chunks(tenant_id, doc_id, UUID(str(row["space_id"])), chunks, prune_models=prune_models)
        return len(chunks)

    async def embed_chunks(
        self,
        tenant_id: TenantId,
        doc_id: UUID,
        space_id: UUID,
        chunks: Sequence[Chunk],
        *,
        progress: ProgressFn | None = None,
        prune_models: bool = False,
    ) -> None:
        """Embed and store ``chunks`` batch by batch; one batch embeds while the last is written."""
        model = self.embedder.model_name
        async with tenant_tx(self.pool, tenant_id) as conn:
            known = await store.existing_vectors(conn, tenant_id, doc_id, model)
        batches = [chunks[i : i + self.batch_size] for i in range(0, len(chunks), self.batch_size)]

        async def vectors_for(batch: Sequence[Chunk]) -> list[str]:
            missing = [c for c in batch if c.content_hash not in known]
            fresh = (
                await self._retrying(lambda: self.embedder.embed([c.embed_text for c in missing])) if missing else []
            )
            by_hash = {c.content_hash: store.vector_literal(v) for c, v in zip(missing, fresh, strict=True)}
            return [known.get(c.content_hash) or by_hash[c.content_hash] for c in batch]

        done = 0
        pending = asyncio.ensure_future(vectors_for(batches[0])) if batches else None
        for i, batch in enumerate(batches):
            assert pending is not None
            vectors = await pending
            pending = asyncio.ensure_future(vectors_for(batches[i + 1])) if i + 1 < len(batches) else None
            rows = [
                store.VectorRow(
                    chunk_index=c.index,
                    chunk=c.text,
                    context=c.context,
                    page=c.page,
                    char_start=c.char_start,
                    char_end=c.char_end,
                    content_hash=c.content_hash,
                    embedding=v,
                )
                for c, v in zip(batch, vectors, strict=True)
            ]
            dim = len(vectors[0][1:-1].split(",")) if vectors else 0

            async def write(rows: list[store.VectorRow] = rows, dim: int = dim) -> None:
                async with tenant_tx(self.pool, tenant_id) as conn:
                    await store.upsert_vectors(
                        conn, tenant_id, doc_id=doc_id, space_id=space_id, model=model, dim=dim, rows=rows
                    )

            try:
                await self._retrying(write)
            except BaseException:
                if pending is not None:
                    pending.cancel()
                raise
            done += len(batch)
            if progress is not None:
                report: ProgressFn = progress
                await self._retrying(functools.partial(report, done))

        async def finish() -> None:
            async with tenant_tx(self.pool, tenant_id) as conn:
                await store.finish_doc_vectors(conn, tenant_id, doc_id, model, len(chunks), prune_models=prune_models)

        await self._retrying(finish)


def _parsed_meta(doc: ParsedDocument) -> dict[str, Any]:
    data = doc.to_json()
    del data["text"]  # kb_docs.body holds it
    return data


def _stored_document(row: dict[str, Any]) -> ParsedDocument:
    parsed = dict((row.get("meta") or {}).get("parsed") or {})
    if not parsed:
        raise NotFound("the document has no stored parse to reindex from", details={"doc_id": str(row["id"])})
    parsed["text"] = row["body"] or ""
    return ParsedDocument.from_json(parsed)


def _message(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:300]


__all__ = ["Ingestor", "is_transient"]
