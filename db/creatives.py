"""Clio's creatives and their versions: listing, and a person's approval decision.

Clio writes creatives through its tools (``actors.tools_kpi``); people review them here.
A version starts ``pending``; a reviewer approves or rejects it once. Deciding the same
again is a no-op (a retried click), the opposite decision is a conflict: to change course,
Clio writes a new version. Each decision is an event (``creative.approved`` /
``creative.rejected``) carrying who decided, in the same transaction.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import asyncpg

from core.errors import Conflict, NotFound
from core.tenancy import TenantId

from .crm import paged
from .events import emit

CREATIVE_COLUMNS = "id, name, audience, angle, campaign, deal_id, status, meta, created_at, updated_at"
VERSION_COLUMNS = "id, creative_id, version, headline, body, sources, approval, run_id, created_at"

Decision = Literal["approved", "rejected"]


async def list_creatives(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    campaign: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if campaign:
        filters.append(("campaign = {}", campaign))
    if status:
        filters.append(("status = {}", status))
    page = await paged(conn, "creatives", CREATIVE_COLUMNS, tenant_id, filters, limit, cursor)
    ids = [item["id"] for item in page["items"]]
    counts = await conn.fetch(
        """select creative_id, count(*) as versions, count(*) filter (where approval = 'pending') as pending,
                  count(*) filter (where approval = 'approved') as approved
           from creative_versions where tenant_id = $1 and creative_id = any($2::uuid[]) group by creative_id""",
        tenant_id,
        ids,
    )
    by_id = {r["creative_id"]: r for r in counts}
    for item in page["items"]:
        r = by_id.get(item["id"])
        item["versions"] = r["versions"] if r else 0
        item["pending"] = r["pending"] if r else 0
        item["approved"] = r["approved"] if r else 0
    return page


async def get_creative(conn: asyncpg.Connection, tenant_id: TenantId, creative_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {CREATIVE_COLUMNS} from creatives where tenant_id = $1 and id = $2", tenant_id, creative_id
    )
    if row is None:
        raise NotFound("creative not found", details={"id": str(creative_id)})
    versions = await conn.fetch(
        f"""select {VERSION_COLUMNS} from creative_versions where tenant_id = $1 and creative_id = $2
            order by version""",
        tenant_id,
        creative_id,
    )
    return dict(row) | {"versions": [dict(v) for v in versions]}


async def decide_version(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    creative_id: UUID,
    version: int,
    decision: Decision,
    *,
    by: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Approve or reject one version (see module doc); returns the version."""
    row = await conn.fetchrow(
        f"""select {VERSION_COLUMNS} from creative_versions
            where tenant_id = $1 and creative_id = $2 and version = $3 for update""",
        tenant_id,
        creative_id,
        version,
    )
    if row is None:
        raise NotFound("creative version not found", details={"creative_id": str(creative_id), "version": version})
    if row["approval"] == decision:
        return dict(row)
    if row["approval"] != "pending":
        raise Conflict(
            f"this version was already {row['approval']}; ask Clio for a new version instead",
            details={"creative_id": str(creative_id), "version": version, "approval": row["approval"]},
        )
    updated = await conn.fetchrow(
        f"""update creative_versions set approval = $4 where tenant_id = $1 and creative_id = $2 and version = $3
            returning {VERSION_COLUMNS}""",
        tenant_id,
        creative_id,
        version,
        decision,
    )
    await conn.execute(
        "update creatives set updated_at = now() where tenant_id = $1 and id = $2", tenant_id, creative_id
    )
    await emit(
        conn,
        tenant_id,
        f"creative.{decision}",
        {"creative_id": str(creative_id), "version": version, "by": by, "note": note},
    )
    assert updated is not None
    return dict(updated)


__all__ = ["Decision", "decide_version", "get_creative", "list_creatives"]
