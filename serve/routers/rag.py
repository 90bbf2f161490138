"""Knowledge base: spaces, uploads with progress, documents, hybrid search, reindex jobs.

Routes translate HTTP to ``knowledge`` calls: SQL in ``knowledge.store``, ingestion in
``knowledge.ingest`` (dispatched by ``serve.knowledge_runtime``), search in
``knowledge.search``. Uploads are streamed to a temporary file by the multipart parser
(the edge rejects bodies over ``kb_upload_max_bytes`` with 413 before reading them), their
kind is decided from their bytes (415 otherwise), then the file goes to storage and the
upload row + ``kb.upload.queued`` event commit together.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.datastructures import UploadFile

from core.errors import Forbidden, IdempotencyKeyMissing, PayloadTooLarge, ValidationFailed
from core.tenancy import TenantContext
from db.pool import tenant_tx
from knowledge import store
from knowledge.blobs import blob_path
from knowledge.sniff import sniff_bytes

from ..deps import IdempotentCall, State, Tenant
from ..knowledge_runtime import knowledge_of
from ..schemas import Strict

router = APIRouter(prefix="/rag", tags=["knowledge"])

_SNIFF_HEAD = 64 * 1024
_SNIFF_TAIL = 64 * 1024  # a ZIP's central directory (DOCX part names) sits at the end
_TERMINAL = ("embedded", "failed")


def _require_writer(ctx: TenantContext) -> None:
    if ctx.read_only:
        raise Forbidden(
            "read-only roles (viewer, auditor) cannot change the knowledge base", details={"role": ctx.role}
        )


class SpaceIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    pii_masking: bool = Field(
        False, description="mask CPF, CNPJ, phones, e-mails and card numbers before storing or embedding"
    )


class Space(BaseModel):
    id: UUID
    name: str
    pii_masking: bool
    docs: int = 0


class DocIn(Strict):
    space_id: UUID
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=900_000)
    source: str | None = Field(None, max_length=500)
    meta: dict[str, Any] = Field(default_factory=dict)


class DocCreated(BaseModel):
    id: UUID
    uploadId: UUID


class UploadCreated(BaseModel):
    uploadId: UUID
    status: str


class Progress(BaseModel):
    done: int
    total: int


class Upload(BaseModel):
    id: UUID
    space_id: UUID
    doc_id: UUID | None
    filename: str
    kind: str | None
    bytes: int
    status: str
    progress: Progress
    error: str | None
    attempts: int


class BuildIn(Strict):
    space_id: UUID | None = None
    doc_id: UUID | None = None


class JobCreated(BaseModel):
    jobId: UUID


class Job(BaseModel):
    id: UUID
    space_id: UUID | None
    doc_id: UUID | None
    status: str
    docs_total: int
    docs_done: int
    chunks_done: int
    model: str | None
    error: str | None


class Hit(BaseModel):
    docId: UUID
    chunkId: UUID
    chunk: str
    score: float
    source: str | None
    title: str
    page: int | None
    chunkIndex: int
    heading: str


def _upload_out(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"progress": {"done": row["chunks_done"], "total": row["chunks_total"]}}


# Spaces ------------------------------------------------------------------------------------


@router.post("/spaces", response_model=Space, status_code=201)
async def create_space(body: SpaceIn, state: State, ctx: Tenant) -> dict[str, Any]:
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await store.create_space(conn, ctx.tenant_id, body.name, body.pii_masking)


@router.get("/spaces", response_model=list[Space])
async def list_spaces(state: State, ctx: Tenant) -> list[dict[str, Any]]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await store.list_spaces(conn, ctx.tenant_id)


# Documents and uploads ---------------------------------------------------------------------


@router.post("/docs", response_model=DocCreated, status_code=202)
async def create_doc(body: DocIn, request: Request, state: State, ctx: Tenant) -> dict[str, Any]:
    """Index a text document (Markdown or plain text) exactly like an uploaded file."""
    _require_writer(ctx)
    kb = knowledge_of(request, state)
    data = body.body.encode("utf-8")
    upload_id, doc_id = uuid.uuid4(), uuid.uuid4()
    path = blob_path(ctx.tenant_id, upload_id)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "body.md"
        await asyncio.to_thread(source.write_bytes, data)
        await kb.blobs.put_file(path, source, content_type="text/markdown")
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        await store.create_upload(
            conn,
            ctx.tenant_id,
            upload_id=upload_id,
            space_id=body.space_id,
            path=path,
            filename=(body.source or body.title)[:200],
            kind="markdown",
            mime="text/markdown",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            title=body.title,
        )
        await store.upsert_doc(
            conn,
            ctx.tenant_id,
            doc_id=doc_id,
            space_id=body.space_id,
            upload_id=upload_id,
            title=body.title,
            body=None,
            source=body.source,
            kind="markdown",
            page_count=None,
            meta=body.meta,
        )
    kb.dispatch_upload(ctx.tenant_id, upload_id)
    return {"id": doc_id, "uploadId": upload_id}


async def _spool(upload: UploadFile, limit: int) -> tuple[bytes, int, str]:
    """Sniff window (head + tail), size and SHA-256 of the spooled part, read in 1 MiB steps."""

    def run() -> tuple[bytes, int, str]:
        f = upload.file
        f.seek(0)
        digest = hashlib.sha256()
        size = 0
        head = b""
        while chunk := f.read(1024 * 1024):
            if not head:
                head = chunk[:_SNIFF_HEAD]
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the file exceeds {limit} bytes", details={"limit_bytes": limit})
            digest.update(chunk)
        tail = b""
        if size > _SNIFF_HEAD:
            f.seek(max(_SNIFF_HEAD, size - _SNIFF_TAIL))
            tail = f.read(_SNIFF_TAIL)
        f.seek(0)
        return head + tail, size, digest.hexdigest()

    return await asyncio.to_thread(run)


def _copy_part(upload: UploadFile, target: Path) -> None:
    upload.file.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


@router.post(
    "/uploads",
    response_model=UploadCreated,
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "space_id"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "space_id": {"type": "string", "format": "uuid"},
                            "title": {"type": "string", "maxLength": 500},
                        },
                    }
                }
            },
        }
    },
)
async def create_upload(
    request: Request,
    state: State,
    ctx: Tenant,
    idempotency_key: Annotated[
        str | None, Header(description="Required: retries with the same key replay the first response")
    ] = None,
) -> Response:
    """Upload a PDF, DOCX, HTML, Markdown or text file (kind decided by its bytes; 415 otherwise)
    into a space; ingestion starts at once. Poll ``GET /rag/uploads/{id}`` or stream its events."""
    _require_writer(ctx)
    if idempotency_key is None or not idempotency_key.strip():
        raise IdempotencyKeyMissing("this route requires an Idempotency-Key header")
    if len(idempotency_key) > 255:
        raise ValidationFailed("Idempotency-Key is longer than 255 characters")
    limit = state.settings.kb_upload_max_bytes
    form = await request.form(max_files=1, max_fields=5)
    try:
        file, space_raw, title = form.get("file"), form.get("space_id"), form.get("title")
        if not isinstance(file, UploadFile):
            raise ValidationFailed("a file part named 'file' is required", details=[{"loc": ["body", "file"]}])
        try:
            space_id = UUID(str(space_raw))
        except ValueError as exc:
            raise ValidationFailed(
                "space_id must be a uuid", details=[{"loc": ["body", "space_id"], "msg": "invalid uuid"}]
            ) from exc
        if title is not None and (not isinstance(title, str) or len(title) > 500):
            raise ValidationFailed("title must be text of at most 500 characters")
        filename = Path(file.filename or "upload").name[:200] or "upload"
        window, size, sha = await _spool(file, limit)
        kind = sniff_bytes(window, filename=filename)
        kb = knowledge_of(request, state)
        request_hash = hashlib.sha256(json.dumps([str(space_id), filename, title, sha]).encode()).hexdigest()
        idem = IdempotentCall(state, ctx, idempotency_key.strip(), "POST", request.url.path, request_hash)
        upload_id = uuid.uuid4()

        async def handler(conn: Any) -> dict[str, Any]:
            await store.get_space(conn, ctx.tenant_id, space_id)
            path = blob_path(ctx.tenant_id, upload_id)
            # The part is spooled (memory, then an unnamed temp file): copy it to a named
            # file in 1 MiB steps so storage can stream it.
            with tempfile.TemporaryDirectory() as tmp:
                source = Path(tmp) / "part"
                await asyncio.to_thread(_copy_part, file, source)
                await kb.blobs.put_file(path, source, content_type=kind.mime)
            await store.create_upload(
                conn,
                ctx.tenant_id,
                upload_id=upload_id,
                space_id=space_id,
                path=path,
                filename=filename,
                kind=kind.kind.value,
                mime=kind.mime,
                size=size,
                sha256=sha,
                title=title if isinstance(title, str) and title.strip() else None,
            )
            return {"uploadId": upload_id, "status": "queued"}

        response = await idem.respond(202, handler)
    finally:
        await form.close()
    replayed = json.loads(bytes(response.body))
    if "uploadId" in replayed:
        # Also on a replay: a claim is atomic, so an upload already running is left alone.
        kb.dispatch_upload(ctx.tenant_id, UUID(replayed["uploadId"]))
    return response


@router.get("/uploads", response_model=list[Upload])
async def list_uploads(state: State, ctx: Tenant) -> list[dict[str, Any]]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return [_upload_out(r) for r in await store.list_uploads(conn, ctx.tenant_id)]


@router.get("/uploads/{upload_id}", response_model=Upload)
async def get_upload(upload_id: UUID, state: State, ctx: Tenant) -> dict[str, Any]:
    """Status (queued | parsing | parsed | embedding | embedded | failed), progress in chunks,
    and the failure reason."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return _upload_out(await store.get_upload(conn, ctx.tenant_id, upload_id))


async def _progress_events(state: Any, ctx: TenantContext, upload_id: UUID) -> AsyncIterator[dict[str, str]]:
    last: tuple[Any, ...] | None = None
    seq = 0
    while True:
        async with tenant_tx(state.pool, ctx.tenant_id) as conn:
            row = await store.get_upload(conn, ctx.tenant_id, upload_id)
        now = (row["status"], row["chunks_done"], row["chunks_total"], row["error"])
        if now != last:
            seq += 1
            out = Upload.model_validate(_upload_out(row)).model_dump(mode="json")
            event = row["status"] if row["status"] in _TERMINAL else "progress"
            yield {"id": f"{upload_id}:{seq}", "event": event, "data": json.dumps(out)}
            last = now
        if row["status"] in _TERMINAL:
            return
        await asyncio.sleep(0.5)


@router.get(
    "/uploads/{upload_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "progress events (SSE)"}},
)
async def upload_events(upload_id: UUID, state: State, ctx: Tenant) -> EventSourceResponse:
    """Server-sent events: ``progress`` on every change, then ``embedded`` or ``failed``."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        await store.get_upload(conn, ctx.tenant_id, upload_id)  # 404 before the stream starts
    return EventSourceResponse(_progress_events(state, ctx, upload_id))


@router.delete("/docs/{doc_id}", status_code=204)
async def delete_doc(doc_id: UUID, request: Request, state: State, ctx: Tenant) -> Response:
    """Remove the document, its chunks and vectors, its upload record and stored file."""
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        path = await store.delete_doc(conn, ctx.tenant_id, doc_id)
    if path is not None:
        await knowledge_of(request, state).blobs.delete(path)
    return Response(status_code=204)


# Reindex -----------------------------------------------------------------------------------


@router.post("/build", response_model=JobCreated, status_code=202)
async def build(body: BuildIn, request: Request, state: State, ctx: Tenant) -> dict[str, Any]:
    """Re-chunk and re-embed the tenant's documents (or one space / one document)."""
    _require_writer(ctx)
    kb = knowledge_of(request, state)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        job = await store.create_job(conn, ctx.tenant_id, space_id=body.space_id, doc_id=body.doc_id, model=kb.model)
    kb.dispatch_job(ctx.tenant_id, job["id"])
    return {"jobId": job["id"]}


@router.get("/jobs/{job_id}", response_model=Job)
async def get_job(job_id: UUID, state: State, ctx: Tenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await store.get_job(conn, ctx.tenant_id, job_id)


# Search ------------------------------------------------------------------------------------


@router.get("/search", response_model=list[Hit])
async def search(
    request: Request,
    state: State,
    ctx: Tenant,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="the question")],
    k: Annotated[int, Query(ge=1, le=50)] = 8,
    space_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """Hybrid (vector + Portuguese full-text, fused by reciprocal rank) search with sources."""
    with state.metrics.rag_search.labels(str(k)).time():
        results = await knowledge_of(request, state).search(ctx.tenant_id, q, k, space_id)
    return [r.as_api() for r in results]
