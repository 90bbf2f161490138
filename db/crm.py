"""CRM and inbox queries: leads, threads, messages, deals.

Each function takes a connection already inside ``tenant_tx`` plus the tenant id it was
opened for; every statement names the tenant explicitly (RLS is the backstop, not the plan).
State changes others react to write their event in the same transaction (outbox).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict, NotFound, ValidationFailed
from core.tenancy import TenantId

from .events import emit

LEAD_COLUMNS = "id, name, phone, email, source, campaign, score, stage, meta, created_at, updated_at"
THREAD_COLUMNS = (
    "id, lead_id, channel, external_id, status, created_at, channel_account_id, assignee, unread_count, last_message_at"
)
MESSAGE_COLUMNS = (
    "id, thread_id, direction, sender, body, meta, created_at, content_type, status, status_reason, provider_message_id"
)
DEAL_COLUMNS = "id, lead_id, title, value_cents, stage, won_at, meta, created_at"


# Keyset pagination cursors: opaque to clients, (created_at, id) inside.
def encode_cursor(created_at: datetime, id_: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, id_ = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(ts), UUID(id_)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "invalid cursor", details=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}]
        ) from exc


def _page(rows: list[asyncpg.Record], limit: int) -> dict[str, Any]:
    items = [dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return {"items": items, "next_cursor": next_cursor}


async def paged(
    conn: asyncpg.Connection,
    table: str,
    columns: str,
    tenant_id: TenantId,
    filters: list[tuple[str, Any]],
    limit: int,
    cursor: str | None,
    order_desc: bool = True,
) -> dict[str, Any]:
    """Shared keyset listing. ``filters`` are (sql with one ``{}`` placeholder, value)."""
    args: list[Any] = [tenant_id]
    where = ["tenant_id = $1"]
    for sql, value in filters:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))
    cmp, order = ("<", "desc") if order_desc else (">", "asc")
    if cursor:
        ts, id_ = decode_cursor(cursor)
        args.extend([ts, id_])
        where.append(f"(created_at, id) {cmp} (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await conn.fetch(
        f"select {columns} from {table} where {' and '.join(where)} "
        f"order by created_at {order}, id {order} limit ${len(args)}",
        *args,
    )
    return _page(rows, limit)


# Leads ---------------------------------------------------------------------------------


async def create_lead(conn: asyncpg.Connection, tenant_id: TenantId, data: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""insert into leads (tenant_id, name, phone, email, source, campaign, score, stage, meta)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {LEAD_COLUMNS}""",
        tenant_id,
        data["name"],
        data.get("phone"),
        data.get("email"),
        data.get("source"),
        data.get("campaign"),
        data.get("score", 0),
        data.get("stage", "new"),
        data.get("meta") or {},
    )
    lead = dict(row)  # type: ignore[arg-type]
    await emit(conn, tenant_id, "lead.created", {"lead_id": str(lead["id"]), "source": lead["source"]})
    return lead


async def list_leads(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    stage: str | None = None,
    source: str | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if stage:
        filters.append(("stage = {}", stage))
    if source:
        filters.append(("source = {}", source))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        filters.append(("(name ilike {0} or email ilike {0} or phone ilike {0})", pattern))
    return await paged(conn, "leads", LEAD_COLUMNS, tenant_id, filters, limit, cursor)


async def get_lead(conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(f"select {LEAD_COLUMNS} from leads where tenant_id = $1 and id = $2", tenant_id, lead_id)
    if row is None:
        raise NotFound("lead not found", details={"id": str(lead_id)})
    return dict(row)


# Threads and messages ---------------------------------------------------------------------


async def create_thread(conn: asyncpg.Connection, tenant_id: TenantId, data: dict[str, Any]) -> dict[str, Any]:
    if data.get("lead_id") is not None:
        await get_lead(conn, tenant_id, data["lead_id"])  # 404 rather than an FK error
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"""insert into threads (tenant_id, lead_id, channel, external_id)
                    values ($1, $2, $3, $4) returning {THREAD_COLUMNS}""",
                tenant_id,
                data.get("lead_id"),
                data["channel"],
                data["external_id"],
            )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(
            "a thread with this channel and external_id exists",
            details={"channel": data["channel"], "external_id": data["external_id"]},
        ) from exc
    thread = dict(row)  # type: ignore[arg-type]
    await emit(conn, tenant_id, "thread.created", {"thread_id": str(thread["id"]), "channel": thread["channel"]})
    return thread


async def get_thread(conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {THREAD_COLUMNS} from threads where tenant_id = $1 and id = $2", tenant_id, thread_id
    )
    if row is None:
        raise NotFound("thread not found", details={"id": str(thread_id)})
    return dict(row)


async def list_threads(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    channel: str | None = None,
    lead_id: UUID | None = None,
) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if channel:
        filters.append(("channel = {}", channel))
    if lead_id:
        filters.append(("lead_id = {}", lead_id))
    return await paged(conn, "threads", THREAD_COLUMNS, tenant_id, filters, limit, cursor)


async def create_message(conn: asyncpg.Connection, tenant_id: TenantId, data: dict[str, Any]) -> dict[str, Any]:
    thread = await get_thread(conn, tenant_id, data["thread_id"])
    row = await conn.fetchrow(
        f"""insert into messages (tenant_id, thread_id, direction, sender, body, meta)
            values ($1, $2, $3, $4, $5, $6) returning {MESSAGE_COLUMNS}""",
        tenant_id,
        thread["id"],
        data["direction"],
        data["sender"],
        data["body"],
        data.get("meta") or {},
    )
    message = dict(row)  # type: ignore[arg-type]
    type_ = "message.received" if message["direction"] == "in" else "message.sent"
    await emit(
        conn,
        tenant_id,
        type_,
        {"message_id": str(message["id"]), "thread_id": str(thread["id"]), "channel": thread["channel"]},
    )
    return {**message, "channel": thread["channel"]}


async def list_messages(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    thread_id: UUID | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if thread_id:
        filters.append(("thread_id = {}", thread_id))
    if channel:
        filters.append(("thread_id in (select id from threads where tenant_id = $1 and channel = {})", channel))
    page = await paged(conn, "messages", MESSAGE_COLUMNS, tenant_id, filters, limit, cursor, order_desc=False)
    return page


# Deals ---------------------------------------------------------------------------------


async def create_deal(conn: asyncpg.Connection, tenant_id: TenantId, data: dict[str, Any]) -> dict[str, Any]:
    await get_lead(conn, tenant_id, data["lead_id"])
    row = await conn.fetchrow(
        f"""insert into deals (tenant_id, lead_id, title, value_cents, meta)
            values ($1, $2, $3, $4, $5) returning {DEAL_COLUMNS}""",
        tenant_id,
        data["lead_id"],
        data.get("title") or "",
        data.get("value_cents", 0),
        data.get("meta") or {},
    )
    deal = dict(row)  # type: ignore[arg-type]
    await emit(conn, tenant_id, "deal.created", {"deal_id": str(deal["id"]), "lead_id": str(deal["lead_id"])})
    return deal


async def list_deals(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    stage: str | None = None,
    lead_id: UUID | None = None,
) -> dict[str, Any]:
    filters: list[tuple[str, Any]] = []
    if stage:
        filters.append(("stage = {}", stage))
    if lead_id:
        filters.append(("lead_id = {}", lead_id))
    return await paged(conn, "deals", DEAL_COLUMNS, tenant_id, filters, limit, cursor)


async def win_deal(conn: asyncpg.Connection, tenant_id: TenantId, deal_id: UUID, source: str) -> dict[str, Any]:
    """Mark a deal won, once. Winning a won deal returns it unchanged and emits nothing."""
    row = await conn.fetchrow(
        f"select {DEAL_COLUMNS} from deals where tenant_id = $1 and id = $2 for update", tenant_id, deal_id
    )
    if row is None:
        raise NotFound("deal not found", details={"id": str(deal_id)})
    if row["stage"] == "won":
        return dict(row)
    if row["stage"] == "lost":
        raise Conflict("a lost deal cannot be won", details={"id": str(deal_id), "stage": "lost"})
    won = await conn.fetchrow(
        f"""update deals set stage = 'won', won_at = now() where tenant_id = $1 and id = $2
            returning {DEAL_COLUMNS}""",
        tenant_id,
        deal_id,
    )
    deal = dict(won)  # type: ignore[arg-type]
    await conn.execute(
        "update leads set stage = 'customer', updated_at = now() where tenant_id = $1 and id = $2",
        tenant_id,
        deal["lead_id"],
    )
    await emit(
        conn,
        tenant_id,
        "deal.won",
        {
            "deal_id": str(deal["id"]),
            "lead_id": str(deal["lead_id"]),
            "value_cents": deal["value_cents"],
            "source": source,
        },
    )
    return deal


__all__ = [
    "create_deal",
    "create_lead",
    "create_message",
    "create_thread",
    "decode_cursor",
    "encode_cursor",
    "get_lead",
    "get_thread",
    "list_deals",
    "list_leads",
    "list_messages",
    "list_threads",
    "win_deal",
]
