"""Conversation ownership: bot | pending_human | human | closed, and what staff do.

Every change is one tenant transaction that writes the new state and a
``thread.status_changed`` event (from, to, reason, assignee). While a thread is not
``bot``, inbound messages are stored as ``skipped`` and Luddy stays silent
(``actors.host`` checks too). Staff replies go through the thread's channel like Luddy's
answers (``tools.inbox.outbound``), after the reply-window check so the API can say why a
free-form reply is refused and offer the template path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict, NotFound, ValidationFailed
from core.tenancy import TenantId
from db.events import emit
from tools.channels import ConnectorRegistry, OutboundPart, WindowState

from .outbound import enqueue_part
from .replies import with_reply_context

STATUSES = ("bot", "pending_human", "human", "closed")
_ALLOWED: dict[str, set[str]] = {
    "bot": {"pending_human", "human", "closed"},
    "pending_human": {"human", "bot", "closed"},
    "human": {"bot", "closed", "pending_human"},
    "closed": {"bot", "human"},
}


async def _locked(conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        """select id, status, assignee, channel, channel_account_id, external_id, last_inbound_at
           from threads where tenant_id = $1 and id = $2 for update""",
        tenant_id,
        thread_id,
    )
    if row is None:
        raise NotFound("thread not found", details={"id": str(thread_id)})
    return row


async def change_status(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    thread_id: UUID,
    to: str,
    *,
    actor: str,
    reason: str | None = None,
    assignee: str | None = None,
    summary: str | None = None,
) -> dict[str, Any]:
    row = await _locked(conn, tenant_id, thread_id)
    frm = row["status"]
    if to != frm and to not in _ALLOWED[frm]:
        raise Conflict(f"a {frm} conversation cannot become {to}", details={"status": frm, "to": to})
    if frm == to == "human" and row["assignee"] and assignee and row["assignee"] != assignee:
        raise Conflict("another person owns this conversation", details={"assignee": row["assignee"]})
    await conn.execute(
        """update threads set status = $3, assignee = $4, status_reason = coalesce($5, status_reason),
               handoff_summary = case when $3 = 'pending_human' then coalesce($6, handoff_summary)
                                      else handoff_summary end,
               pending_since = case when $3 = 'bot' then pending_since else null end,
               updated_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        thread_id,
        to,
        assignee if to == "human" else None,
        reason,
        summary,
    )
    if to != "bot":
        # Whatever waited for Luddy is now a person's: Luddy never answers it later.
        await conn.execute(
            """update messages set turn_state = 'skipped'
               where tenant_id = $1 and thread_id = $2 and turn_state = 'pending'""",
            tenant_id,
            thread_id,
        )
    await emit(
        conn,
        tenant_id,
        "thread.status_changed",
        {"thread_id": str(thread_id), "from": frm, "to": to, "reason": reason, "assignee": assignee, "actor": actor},
    )
    return {"id": thread_id, "status": to, "previous": frm, "assignee": assignee if to == "human" else None}


def summarize(last_messages: list[str], reason: str, note: str | None) -> str:
    """The handoff summary staff see first: why, the note, and what the customer said last."""
    said = " | ".join(m.strip()[:200] for m in last_messages[-3:] if m.strip())
    parts = [f"motivo: {reason}"]
    if note:
        parts.append(f"nota: {note}")
    if said:
        parts.append(f"cliente: {said}")
    return "; ".join(parts)[:1000]


async def request_human(
    conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID, *, reason: str, note: str | None, actor: str
) -> dict[str, Any]:
    """``handoff_to_human``: to pending_human with a summary of the conversation."""
    rows = await conn.fetch(
        """select body from messages where tenant_id = $1 and thread_id = $2 and direction = 'in'
           order by created_at desc, id desc limit 3""",
        tenant_id,
        thread_id,
    )
    summary = summarize([r["body"] for r in reversed(rows)], reason, note)
    row = await _locked(conn, tenant_id, thread_id)
    if row["status"] in ("pending_human", "human"):
        return {"id": thread_id, "status": row["status"], "previous": row["status"], "summary": summary}
    out = await change_status(conn, tenant_id, thread_id, "pending_human", actor=actor, reason=reason, summary=summary)
    return {**out, "summary": summary}


async def staff_reply(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    thread_id: UUID,
    *,
    user: str,
    part: OutboundPart,
    key: str,
    connectors: ConnectorRegistry,
) -> dict[str, Any]:
    row = await _locked(conn, tenant_id, thread_id)
    if row["status"] != "human":
        raise Conflict("take the conversation before replying", details={"status": row["status"]})
    if row["channel_account_id"] is None:
        raise Conflict("this conversation has no channel account to reply through", details={"id": str(thread_id)})
    connector = connectors.get(row["channel"])
    part = await with_reply_context(
        conn, tenant_id, thread_id, row["channel"], part.model_copy(update={"sent_by": "staff"})
    )
    try:
        connector.validate(part)
    except ValueError as exc:
        raise ValidationFailed(str(exc), details=[{"loc": ["body"], "msg": str(exc)}]) from exc
    connector.check_window(part, WindowState(row["last_inbound_at"], datetime.now(UTC)))
    idem = f"staff:{thread_id}:{key}"
    prior = await conn.fetchrow(
        "select id, message_id from outbound_deliveries where tenant_id = $1 and idempotency_key = $2", tenant_id, idem
    )
    if prior is not None:
        return {"message_id": prior["message_id"], "outbound_id": prior["id"], "replayed": True}
    body = part.text or (part.template.name if part.template else f"[{part.kind}]")
    message_id = await conn.fetchval(
        """insert into messages (tenant_id, thread_id, direction, sender, body, meta, content_type, status, status_at)
           values ($1, $2, 'out', $3, $4, $5, $6, 'queued', now()) returning id""",
        tenant_id,
        thread_id,
        f"staff:{user}",
        body,
        {"staff": user},
        "template" if part.kind == "template" else "text",
    )
    outbound_id = await enqueue_part(
        conn,
        tenant_id,
        thread_id=thread_id,
        message_id=message_id,
        account_id=row["channel_account_id"],
        recipient=row["external_id"],
        part=part,
        idempotency_key=idem,
    )
    await conn.execute(
        """update threads set last_message_at = now(), last_message_preview = left($3, 200), unread_count = 0,
               updated_at = now() where tenant_id = $1 and id = $2""",
        tenant_id,
        thread_id,
        body,
    )
    return {"message_id": message_id, "outbound_id": outbound_id, "replayed": False}


async def add_note(
    conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID, *, author: str, body: str
) -> dict[str, Any]:
    await _locked(conn, tenant_id, thread_id)
    row = await conn.fetchrow(
        """insert into thread_notes (tenant_id, thread_id, author, body) values ($1, $2, $3, $4)
           returning id, thread_id, author, body, created_at""",
        tenant_id,
        thread_id,
        author,
        body,
    )
    assert row is not None
    await emit(conn, tenant_id, "thread.note_added", {"thread_id": str(thread_id), "note_id": str(row["id"])})
    return dict(row)


async def list_notes(conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID) -> list[dict[str, Any]]:
    await _locked(conn, tenant_id, thread_id)
    rows = await conn.fetch(
        """select id, thread_id, author, body, created_at from thread_notes
           where tenant_id = $1 and thread_id = $2 order by created_at, id""",
        tenant_id,
        thread_id,
    )
    return [dict(r) for r in rows]


async def mark_read(conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID) -> None:
    await _locked(conn, tenant_id, thread_id)
    await conn.execute("update threads set unread_count = 0 where tenant_id = $1 and id = $2", tenant_id, thread_id)


__all__ = [
    "STATUSES",
    "add_note",
    "change_status",
    "list_notes",
    "mark_read",
    "request_human",
    "staff_reply",
    "summarize",
]
