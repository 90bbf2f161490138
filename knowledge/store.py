"""Knowledge-base queries: spaces, uploads, documents, vectors, reindex jobs.

Every function takes a connection already inside ``db.pool.tenant_tx`` plus the tenant id
it was opened for, and names the tenant in every statement (RLS is the backstop). State
changes others react to write their event in the same transaction (outbox).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict, NotFound
from core.tenancy import TenantId
from db.events import emit

UPLOAD_COLUMNS = (
    "id, space_id, filename, status, kind, mime, bytes, chunks_done, chunks_total, error, attempts, "
    "created_at, updated_at, started_at, finished_at"
)
RUNNING = ("parsing", "parsed", "embedding")


def vector_literal(values: Sequence[float]) -> str:
    """pgvector's text input; 7 significant digits round-trip float32."""
    return "[" + ",".join(f"{x:.7g}" for x in values) + "]"


# Spaces ------------------------------------------------------------------------------------


async def create_space(conn: asyncpg.Connection, tenant_id: TenantId, name: str, pii_masking: bool) -> dict[str, Any]:
    row = await conn.fetchrow(
        """insert into kb_spaces (tenant_id, name, pii_masking) values ($1, $2, $3)
           on conflict (tenant_id, name) do nothing returning id, name, pii_masking, created_at""",
        tenant_id,
        name,
        pii_masking,
    )
    if row is None:
        raise Conflict("a space with this name exists", details={"name": name})
    return dict(row)


async def ensure_space(conn: asyncpg.Connection, tenant_id: TenantId, name: str, pii_masking: bool = False) -> UUID:
    row = await conn.fetchrow(
        """insert into kb_spaces (tenant_id, name, pii_masking) values ($1, $2, $3)
           on conflict (tenant_id, name) do update set name = excluded.name returning id""",
        tenant_id,
        name,
        pii_masking,
    )
    assert row is not None
    return UUID(str(row["id"]))


async def list_spaces(conn: asyncpg.Connection, tenant_id: TenantId) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """select s.id, s.name, s.pii_masking, s.created_at,
                  (select count(*) from kb_docs d where d.tenant_id = s.tenant_id and d.space_id = s.id) as docs
           from kb_spaces s where s.tenant_id = $1 order by s.created_at, s.id""",
        tenant_id,
    )
    return [dict(r) for r in rows]


async def get_space(conn: asyncpg.Connection, tenant_id: TenantId, space_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        "select id, name, pii_masking from kb_spaces where tenant_id = $1 and id = $2", tenant_id, space_id
    )
    if row is None:
        raise NotFound("space not found", details={"space_id": str(space_id)})
    return dict(row)


# Uploads -----------------------------------------------------------------------------------


async def create_upload(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    upload_id: UUID,
    space_id: UUID,
    path: str,
    filename: str,
    kind: str,
    mime: str,
    size: int,
    sha256: str,
    title: str | None = None,
) -> dict[str, Any]:
    """A queued upload and its ``kb.upload.queued`` event, in the caller's transaction."""
    await get_space(conn, tenant_id, space_id)
    row = await conn.fetchrow(
        f"""insert into kb_uploads (id, tenant_id, space_id, path, filename, kind, mime, bytes, sha256, title)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {UPLOAD_COLUMNS}""",
        upload_id,
        tenant_id,
        space_id,
        path,
        filename,
        kind,
        mime,
        size,
        sha256,
        title,
    )
    assert row is not None
    await emit(conn, tenant_id, "kb.upload.queued", {"upload_id": str(upload_id), "space_id": str(space_id)})
    return dict(row)


async def get_upload(conn: asyncpg.Connection, tenant_id: TenantId, upload_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""select {UPLOAD_COLUMNS},
                   (select d.id from kb_docs d where d.tenant_id = u.tenant_id and d.upload_id = u.id) as doc_id
            from kb_uploads u where tenant_id = $1 and id = $2""",
        tenant_id,
        upload_id,
    )
    if row is None:
        raise NotFound("upload not found", details={"upload_id": str(upload_id)})
    return dict(row)


async def list_uploads(conn: asyncpg.Connection, tenant_id: TenantId, limit: int = 200) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""select {UPLOAD_COLUMNS},
                   (select d.id from kb_docs d where d.tenant_id = u.tenant_id and d.upload_id = u.id) as doc_id
            from kb_uploads u where tenant_id = $1 order by created_at desc, id desc limit $2""",
        tenant_id,
        limit,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True, slots=True)
class ClaimedUpload:
    id: UUID
    space_id: UUID
    path: str
    filename: str
    kind: str | None
    title: str | None
    attempts: int
    pii_masking: bool


async def claim_upload(
    conn: asyncpg.Connection, tenant_id: TenantId, upload_id: UUID, *, stale_s: float
) -> ClaimedUpload | None:
    """Take an upload for processing: queued, or stuck in a running state for ``stale_s``.

    Two runners racing for the same upload (the fast path and the sweeper) cannot both win:
    the row lock serialises them and the loser sees the new status.
    """
    row = await conn.fetchrow(
        """update kb_uploads u set status = 'parsing', attempts = attempts + 1, error = null,
                  started_at = now(), updated_at = now(), finished_at = null
           from kb_spaces s
           where u.tenant_id = $1 and u.id = $2 and s.tenant_id = u.tenant_id and s.id = u.space_id
             and (u.status = 'queued' or (u.status in ('parsing', 'parsed', 'embedding')
                                          and u.updated_at < now() - make_interval(secs => $3)))
           returning u.id, u.space_id, u.path, u.filename, u.kind, u.title, u.attempts, s.pii_masking""",
        tenant_id,
        upload_id,
        stale_s,
    )
    return None if row is None else ClaimedUpload(**dict(row))


async def set_upload_status(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    upload_id: UUID,
    status: str,
    *,
    chunks_done: int | None = None,
    chunks_total: int | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        """update kb_uploads set status = $3, chunks_done = coalesce($4, chunks_done),
                  chunks_total = coalesce($5, chunks_total), error = $6, updated_at = now(),
                  finished_at = case when $3 in ('embedded', 'failed') then now() end
           where tenant_id = $1 and id = $2""",
        tenant_id,
        upload_id,
        status,
        chunks_done,
        chunks_total,
        error,
    )
    if status in ("embedded", "failed"):
        await emit(conn, tenant_id, f"kb.upload.{status}", {"upload_id": str(upload_id), "error": error})


async def requeue_upload(conn: asyncpg.Connection, tenant_id: TenantId, upload_id: UUID, error: str) -> None:
    """Back to ``queued`` after a transient failure: the sweeper will try again."""
    await conn.execute(
        "update kb_uploads set status = 'queued', error = $3, updated_at = now() where tenant_id = $1 and id = $2",
        tenant_id,
        upload_id,
        error,
    )


async def pending_uploads(conn: asyncpg.Connection, tenant_id: TenantId, *, grace_s: float) -> list[tuple[UUID, str]]:
    """(id, status) of uploads queued for ``grace_s`` or running with no progress for 10 times that."""
    rows = await conn.fetch(
        """select id, status from kb_uploads where tenant_id = $1 and (
               (status = 'queued' and updated_at < now() - make_interval(secs => $2))
            or (status in ('parsing', 'parsed', 'embedding') and updated_at < now() - make_interval(secs => $2 * 10)))
           order by updated_at limit 100""",
        tenant_id,
        grace_s,
    )
    return [(UUID(str(r["id"])), str(r["status"])) for r in rows]


async def tenants_with_pending(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, *, grace_s: float
) -> list[TenantId]:
    """Tenants with uploads waiting longer than ``grace_s`` (no tenant context needed)."""
    rows = await conn.fetch("select kb_tenants_with_pending(make_interval(secs => $1)) as t", grace_s)
    return [TenantId(UUID(str(r["t"]))) for r in rows]


# Documents ---------------------------------------------------------------------------------


async def upsert_doc(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    space_id: UUID,
    upload_id: UUID,
    title: str,
    body: str | None,
    source: str | None,
    kind: str,
    page_count: int | None,
    meta: dict[str, Any],
    doc_id: UUID | None = None,
) -> UUID:
    """The document of an upload; re-running an upload updates the same row.

    Only the runner holding the upload's claim calls this, so select-then-write cannot race.
    """
    existing = await conn.fetchval(
        "select id from kb_docs where tenant_id = $1 and upload_id = $2 order by created_at limit 1",
        tenant_id,
        upload_id,
    )
    if existing is not None:
        row = await conn.fetchrow(
            """update kb_docs set title = $3, body = $4, kind = $5, page_count = $6, meta = meta || $7,
                      updated_at = now()
               where tenant_id = $1 and id = $2 returning id""",
            tenant_id,
            existing,
            title,
            body,
            kind,
            page_count,
            meta,
        )
    else:
        row = await conn.fetchrow(
            """insert into kb_docs (id, tenant_id, space_id, upload_id, title, body, source, kind, page_count, meta)
               values (coalesce($10, gen_random_uuid()), $1, $2, $3, $4, $5, $6, $7, $8, $9) returning id""",
            tenant_id,
            space_id,
            upload_id,
            title,
            body,
            source,
            kind,
            page_count,
            meta,
            doc_id,
        )
    assert row is not None
    return UUID(str(row["id"]))


async def get_doc(conn: asyncpg.Connection, tenant_id: TenantId, doc_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        """select id, space_id, upload_id, title, body, source, kind, page_count, meta, chunk_count, embed_model,
                  created_at, updated_at
           from kb_docs where tenant_id = $1 and id = $2""",
        tenant_id,
        doc_id,
    )
    if row is None:
        raise NotFound("document not found", details={"doc_id": str(doc_id)})
    return dict(row)


async def doc_ids(conn: asyncpg.Connection, tenant_id: TenantId, space_id: UUID | None) -> list[UUID]:
    rows = await conn.fetch(
        "select id from kb_docs where tenant_id = $1 and ($2::uuid is null or space_id = $2) order by created_at, id",
        tenant_id,
        space_id,
    )
    return [UUID(str(r["id"])) for r in rows]


async def delete_doc(conn: asyncpg.Connection, tenant_id: TenantId, doc_id: UUID) -> str | None:
    """Delete a document and (by cascade) its vectors; returns its upload's blob path."""
    row = await conn.fetchrow(
        """delete from kb_docs d where d.tenant_id = $1 and d.id = $2
           returning (select u.path from kb_uploads u where u.tenant_id = d.tenant_id and u.id = d.upload_id) as path,
                     d.upload_id""",
        tenant_id,
        doc_id,
    )
    if row is None:
        raise NotFound("document not found", details={"doc_id": str(doc_id)})
    if row["upload_id"] is not None:
        await conn.execute("delete from kb_uploads where tenant_id = $1 and id = $2", tenant_id, row["upload_id"])
    await emit(conn, tenant_id, "kb.doc.deleted", {"doc_id": str(doc_id)})
    return None if row["path"] is None else str(row["path"])


# Vectors -----------------------------------------------------------------------------------


async def existing_vectors(conn: asyncpg.Connection, tenant_id: TenantId, doc_id: UUID, model: str) -> dict[str, str]:
    """content_hash → stored embedding (pgvector text) of a document's chunks for ``model``."""
    rows = await conn.fetch(
        """select content_hash, embedding::text as e from kb_vectors
           where tenant_id = $1 and doc_id = $2 and model = $3""",
        tenant_id,
        doc_id,
        model,
    )
    return {r["content_hash"]: r["e"] for r in rows}


@dataclass(frozen=True, slots=True)
class VectorRow:
    chunk_index: int
    chunk: str
    context: str
    page: int | None
    char_start: int
    char_end: int
    content_hash: str
    embedding: str  # pgvector text


async def upsert_vectors(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    doc_id: UUID,
    space_id: UUID,
    model: str,
    dim: int,
    rows: Sequence[VectorRow],
) -> None:
    """Insert or replace chunks by (doc, model, chunk_index): re-running never duplicates."""
    if not rows:
        return
    await conn.execute(
        """insert into kb_vectors (tenant_id, doc_id, space_id, model, dim, chunk_index, chunk, context, page,
                                   char_start, char_end, content_hash, embedding)
           select $1, $2, $3, $4, $5, r.i, r.chunk, r.ctx, r.page, r.cs, r.ce, r.h, r.e::vector
           from unnest($6::int[], $7::text[], $8::text[], $9::int[], $10::int[], $11::int[], $12::text[], $13::text[])
                as r(i, chunk, ctx, page, cs, ce, h, e)
           on conflict (tenant_id, doc_id, model, chunk_index) do update
             set chunk = excluded.chunk, context = excluded.context, page = excluded.page,
                 char_start = excluded.char_start, char_end = excluded.char_end,
                 content_hash = excluded.content_hash, embedding = excluded.embedding, dim = excluded.dim,
                 space_id = excluded.space_id""",
        tenant_id,
        doc_id,
        space_id,
        model,
        dim,
        [r.chunk_index for r in rows],
        [r.chunk for r in rows],
        [r.context for r in rows],
        [r.page for r in rows],
        [r.char_start for r in rows],
        [r.char_end for r in rows],
        [r.content_hash for r in rows],
        [r.embedding for r in rows],
    )


async def finish_doc_vectors(
    conn: asyncpg.Connection, tenant_id: TenantId, doc_id: UUID, model: str, count: int, *, prune_models: bool
) -> None:
    """Drop chunks past the new end (a shorter re-ingest) and record the document's model."""
    await conn.execute(
        "delete from kb_vectors where tenant_id = $1 and doc_id = $2 and model = $3 and chunk_index >= $4",
        tenant_id,
        doc_id,
        model,
        count,
    )
    if prune_models:
        await conn.execute(
            "delete from kb_vectors where tenant_id = $1 and doc_id = $2 and model <> $3", tenant_id, doc_id, model
        )
    await conn.execute(
        "update kb_docs set embed_model = $3, chunk_count = $4, updated_at = now() where tenant_id = $1 and id = $2",
        tenant_id,
        doc_id,
        model,
        count,
    )


# Jobs --------------------------------------------------------------------------------------

JOB_COLUMNS = (
    "id, space_id, doc_id, status, docs_total, docs_done, chunks_done, model, error, created_at, updated_at, "
    "finished_at"
)


async def create_job(
    conn: asyncpg.Connection, tenant_id: TenantId, *, space_id: UUID | None, doc_id: UUID | None, model: str
) -> dict[str, Any]:
    if space_id is not None:
        await get_space(conn, tenant_id, space_id)
    if doc_id is not None:
        await get_doc(conn, tenant_id, doc_id)
    row = await conn.fetchrow(
        f"""insert into rag_jobs (tenant_id, space_id, doc_id, model) values ($1, $2, $3, $4)
            returning {JOB_COLUMNS}""",
        tenant_id,
        space_id,
        doc_id,
        model,
    )
    assert row is not None
    await emit(conn, tenant_id, "kb.job.queued", {"job_id": str(row["id"])})
    return dict(row)


async def get_job(conn: asyncpg.Connection, tenant_id: TenantId, job_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(f"select {JOB_COLUMNS} from rag_jobs where tenant_id = $1 and id = $2", tenant_id, job_id)
    if row is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return dict(row)


async def update_job(conn: asyncpg.Connection, tenant_id: TenantId, job_id: UUID, **fields: Any) -> None:
    allowed = {"status", "docs_total", "docs_done", "chunks_done", "error"}
    if not fields or set(fields) - allowed:
        raise ValueError(f"update_job takes {sorted(allowed)}")
    names = sorted(fields)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    finished = ", finished_at = now()" if fields.get("status") in ("done", "failed") else ""
    await conn.execute(
        f"update rag_jobs set {sets}, updated_at = now(){finished} where tenant_id = $1 and id = $2",
        tenant_id,
        job_id,
        *[fields[n] for n in names],
    )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


__all__ = [
    "RUNNING",
    "ClaimedUpload",
    "VectorRow",
    "claim_upload",
    "create_job",
    "create_space",
    "create_upload",
    "delete_doc",
    "doc_ids",
    "ensure_space",
    "existing_vectors",
    "finish_doc_vectors",
    "get_doc",
    "get_job",
    "get_space",
    "get_upload",
    "list_spaces",
    "list_uploads",
    "pending_uploads",
    "requeue_upload",
    "set_upload_status",
    "tenants_with_pending",
    "update_job",
    "upsert_doc",
    "upsert_vectors",
    "vector_literal",
]
