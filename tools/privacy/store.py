"""SQL of ``privacy_requests`` (migration 0011). Callers pass a tenant transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core.errors import NotFound
from core.tenancy import TenantId

PUBLIC_COLUMNS = """id, kind, status, identifier_kinds, requested_by, progress, result, error, attempts,
    created_at, updated_at, finished_at"""
# A running request whose worker has not reported for this long is taken over by the next run.
STALE_RUNNING = "10 minutes"


async def insert_request(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    kind: str,
    subject: dict[str, Any],
    hashes: list[str],
    kinds: list[str],
    requested_by: str,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""insert into privacy_requests (tenant_id, kind, subject, subject_hashes, identifier_kinds, requested_by)
            values ($1, $2, $3, $4, $5, $6) returning {PUBLIC_COLUMNS}""",
        tenant_id,
        kind,
        subject,
        hashes,
        kinds,
        requested_by,
    )
    assert row is not None
    return dict(row)


async def get_request(conn: asyncpg.Connection, tenant_id: TenantId, request_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {PUBLIC_COLUMNS} from privacy_requests where tenant_id = $1 and id = $2", tenant_id, request_id
    )
    if row is None:
        raise NotFound("privacy request not found", details={"id": str(request_id)})
    return dict(row)


async def status_of(conn: asyncpg.Connection, tenant_id: TenantId, request_id: UUID) -> str | None:
    """The request's status, None when it no longer exists (an export deleted by an erase)."""
    status: str | None = await conn.fetchval(
        "select status from privacy_requests where tenant_id = $1 and id = $2", tenant_id, request_id
    )
    return status


async def list_requests(conn: asyncpg.Connection, tenant_id: TenantId, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""select {PUBLIC_COLUMNS.replace("result, ", "")} from privacy_requests where tenant_id = $1
            order by created_at desc, id desc limit $2""",
        tenant_id,
        limit,
    )
    return [dict(r) for r in rows]


async def claim(conn: asyncpg.Connection, tenant_id: TenantId, request_id: UUID) -> asyncpg.Record | None:
    """Mark the request running if it is queued (or its runner went silent); None otherwise."""
    return await conn.fetchrow(
        f"""update privacy_requests set status = 'running', attempts = attempts + 1, updated_at = now()
            where tenant_id = $1 and id = $2
              and (status = 'queued' or (status = 'running' and updated_at < now() - interval '{STALE_RUNNING}'))
            returning id, kind, subject, subject_hashes, footprint, attempts""",
        tenant_id,
        request_id,
    )


async def save_footprint(
    conn: asyncpg.Connection, tenant_id: TenantId, request_id: UUID, fp: dict[str, Any], subject: dict[str, Any]
) -> None:
    """Before the first change: the rows found and the enriched subject (names, aliases), so a
    retry can still reach rows that no longer match once anonymised."""
    await conn.execute(
        """update privacy_requests set footprint = $3, subject = $4, updated_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        request_id,
        fp,
        subject,
    )


async def report(
    conn: asyncpg.Connection, tenant_id: TenantId, request_id: UUID, done: int, total: int, step: str | None
) -> None:
    await conn.execute(
        "update privacy_requests set progress = $3, updated_at = now() where tenant_id = $1 and id = $2",
        tenant_id,
        request_id,
        {"done": done, "total": total, "step": step},
    )


async def finish(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    request_id: UUID,
    *,
    status: str,
    result: dict[str, Any] | None,
    error: str | None = None,
) -> None:
    """Terminal state; the identifiers are cleared (only their HMACs stay)."""
    await conn.execute(
        """update privacy_requests set status = $3, result = $4, error = $5, subject = null,
               updated_at = now(), finished_at = now(),
               progress = case when $3 = 'done' then jsonb_set(progress, '{done}', progress->'total') else progress end
           where tenant_id = $1 and id = $2""",
        tenant_id,
        request_id,
        status,
        result,
        error,
    )


__all__ = [
    "claim",
    "finish",
    "get_request",
    "insert_request",
    "list_requests",
    "report",
    "save_footprint",
    "status_of",
]
