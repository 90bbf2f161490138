"""What a front end's inbox lists: conversations with unread counts and the last message."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import ValidationFailed
from core.tenancy import TenantId

CONVERSATION_COLUMNS = """id, channel, channel_account_id, external_id as contact, contact_name, lead_id, status,
    assignee, status_reason, handoff_summary, unread_count, last_message_at, last_message_preview, created_at,
    coalesce(last_message_at, created_at) as sort_at"""


def _cursor(sort_at: datetime, id_: UUID) -> str:
    raw = json.dumps([sort_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        ts, id_ = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        return datetime.fromisoformat(ts), UUID(id_)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            "invalid cursor", details=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}]
        ) from exc


async def conversations(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
    unread: bool | None = None,
) -> dict[str, Any]:
    """Most recent activity first; keyset paging on (last activity, id)."""
    args: list[Any] = [tenant_id, status, channel, assignee, unread]
    where = """tenant_id = $1 and ($2::text is null or status = $2) and ($3::text is null or channel = $3)
        and ($4::text is null or assignee = $4) and ($5::boolean is null or (unread_count > 0) = $5)"""
    if cursor:
        ts, id_ = _decode(cursor)
        args += [ts, id_]
        where += " and (coalesce(last_message_at, created_at), id) < ($6, $7)"
    args.append(limit + 1)
    rows = await conn.fetch(
        f"""select {CONVERSATION_COLUMNS} from threads where {where}
            order by coalesce(last_message_at, created_at) desc, id desc limit ${len(args)}""",
        *args,
    )
    items = [dict(r) for r in rows[:limit]]
    next_cursor = _cursor(items[-1]["sort_at"], items[-1]["id"]) if len(rows) > limit else None
    for item in items:
        item.pop("sort_at", None)
    return {"items": items, "next_cursor": next_cursor}


async def conversation(conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"select {CONVERSATION_COLUMNS} from threads where tenant_id = $1 and id = $2", tenant_id, thread_id
    )
    if row is None:
        return None
    item = dict(row)
    item.pop("sort_at", None)
    return item


__all__ = ["conversation", "conversations"]
