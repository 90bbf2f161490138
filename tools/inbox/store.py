"""Processing a stored delivery (the worker's handler, inside the event's tenant transaction).

A message: match or create the lead (phone E.164, e-mail lower-cased), get or create the
one thread of (channel account, contact), write the ``messages`` row, update the
thread's unread count / last message / reply window, and mark it for Luddy's next turn
when the thread is ``bot``; a message that carries an ad referral records the lead's first
touch (``tools.ads.attribution``). A status: move the outbound delivery and its message to the
status if it ranks higher (callbacks arrive out of order), or keep it unmatched until the
send that produced the id is recorded (``apply_pending_statuses``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.tenancy import TenantId
from db import crm
from db.events import emit
from tools.ads.attribution import record_first_touch
from tools.channels import STATUS_RANK, InboundMessage, StatusUpdate
from tools.channels.referral import REFERRAL_ERROR

_THREAD_SQL = (
    "select id, status, lead_id from threads where tenant_id = $1 and channel_account_id = $2 and external_id = $3"
)
# Content that is a reaction to what was said, not a turn Luddy should answer.
_NO_TURN = frozenset({"reaction"})


@dataclass(frozen=True, slots=True)
class Stored:
    outcome: str  # stored | duplicate | status_applied | status_stale | status_unmatched
    thread_id: UUID | None = None
    message_id: UUID | None = None
    wants_turn: bool = False
    outbound_id: UUID | None = None


async def _lead_for(conn: asyncpg.Connection, tenant_id: TenantId, msg: InboundMessage) -> UUID:
    c = msg.contact
    if c.kind == "phone":
        found = await conn.fetchval(
            "select id from leads where tenant_id = $1 and phone = $2 order by created_at limit 1", tenant_id, c.value
        )
    elif c.kind == "email":
        found = await conn.fetchval(
            "select id from leads where tenant_id = $1 and lower(email) = $2 order by created_at limit 1",
            tenant_id,
            c.value,
        )
    else:
        found = await conn.fetchval(
            """select id from leads where tenant_id = $1 and meta->'contacts'->>$2 = $3
               order by created_at limit 1""",
            tenant_id,
            msg.channel,
            c.value,
        )
    if found is not None:
        return UUID(str(found))
    lead = await crm.create_lead(
        conn,
        tenant_id,
        {
            "name": (c.name or c.value)[:200],
            "phone": c.value if c.kind == "phone" else None,
            "email": c.value if c.kind == "email" else None,
            "source": msg.channel,
            "meta": {"contacts": {msg.channel: c.value}} if c.kind == "platform" else {},
        },
    )
    return UUID(str(lead["id"]))


async def _thread_for(
    conn: asyncpg.Connection, tenant_id: TenantId, account_id: UUID, msg: InboundMessage
) -> asyncpg.Record:
    row = await conn.fetchrow(
        _THREAD_SQL,
        tenant_id,
        account_id,
        msg.contact.value,
    )
    if row is not None:
        return row
    lead_id = await _lead_for(conn, tenant_id, msg)
    row = await conn.fetchrow(
        """insert into threads (tenant_id, lead_id, channel, external_id, channel_account_id, contact_name)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (tenant_id, channel_account_id, external_id) where channel_account_id is not null do nothing
           returning id, status, lead_id""",
        tenant_id,
        lead_id,
        msg.channel,
        msg.contact.value,
        account_id,
        msg.contact.name,
    )
    if row is None:  # a concurrent worker created it first
        row = await conn.fetchrow(
            _THREAD_SQL,
            tenant_id,
            account_id,
            msg.contact.value,
        )
        assert row is not None
        return row
    await emit(conn, tenant_id, "thread.created", {"thread_id": str(row["id"]), "channel": msg.channel})
    return row


async def _attribute(conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID | None, msg: InboundMessage) -> None:
    """The ad that brought the contact becomes the lead's first touch (tools.ads.attribution);
    a referral the channel could not read is logged and otherwise ignored."""
    error = msg.extra.get(REFERRAL_ERROR)
    if error:
        await conn.execute(
            "insert into error_logs (tenant_id, source, code, message, payload) values ($1, $2, $3, $4, $5)",
            tenant_id,
            f"inbox.{msg.channel}",
            "malformed_referral",
            str(error)[:500],
            {"provider_message_id": msg.provider_message_id, "provider": msg.provider},
        )
    if msg.referral is not None and lead_id is not None:
        await record_first_touch(conn, tenant_id, lead_id, msg.referral)


def _body(msg: InboundMessage) -> str:
    if msg.text:
        return msg.text
    return f"[{msg.type}]"


async def store_message(
    conn: asyncpg.Connection, tenant_id: TenantId, delivery_id: UUID, account_id: UUID, msg: InboundMessage
) -> Stored:
    thread = await _thread_for(conn, tenant_id, account_id, msg)
    status = thread["status"]
    if status == "closed" and msg.type not in _NO_TURN:
        # A customer writing again reopens a closed conversation with Luddy.
        await conn.execute(
            "update threads set status = 'bot', assignee = null, status_reason = 'reopened' "
            "where tenant_id = $1 and id = $2",
            tenant_id,
            thread["id"],
        )
        await emit(
            conn,
            tenant_id,
            "thread.status_changed",
            {"thread_id": str(thread["id"]), "from": "closed", "to": "bot", "reason": "reopened", "actor": "contact"},
        )
        status = "bot"
    wants_turn = status == "bot" and msg.type not in _NO_TURN
    await _attribute(conn, tenant_id, thread["lead_id"], msg)
    body = _body(msg)
    meta: dict[str, Any] = {
        "provider": msg.provider,
        "delivery_id": str(delivery_id),
        "sent_at": msg.sent_at.isoformat(),
        **({"reply_to": msg.reply_to} if msg.reply_to else {}),
        **({"extra": msg.extra} if msg.extra else {}),
    }
    message_id = await conn.fetchval(
        """insert into messages (tenant_id, thread_id, direction, sender, body, meta, content_type, media,
                                 provider_message_id, status, status_at, turn_state)
           values ($1, $2, 'in', $3, $4, $5, $6, $7, $8, 'received', now(), $9) returning id""",
        tenant_id,
        thread["id"],
        msg.contact.value,
        body,
        meta,
        msg.type,
        [m.model_dump(mode="json", exclude_none=True) for m in msg.media],
        msg.provider_message_id,
        "pending" if wants_turn else "skipped",
    )
    await conn.execute(
        """update threads set unread_count = unread_count + 1, last_message_at = now(),
                  last_message_preview = left($3, 200),
                  last_inbound_at = greatest(coalesce(last_inbound_at, $4), $4),
                  contact_name = coalesce($5, contact_name),
                  pending_since = case when $6 then coalesce(pending_since, now()) else pending_since end,
                  updated_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        thread["id"],
        body,
        msg.sent_at,
        msg.contact.name,
        wants_turn,
    )
    await conn.execute(
        """update inbound_deliveries set processed_at = now(), outcome = 'stored', message_id = $3
           where tenant_id = $1 and id = $2""",
        tenant_id,
        delivery_id,
        message_id,
    )
    await emit(
        conn,
        tenant_id,
        "message.received",
        {"message_id": str(message_id), "thread_id": str(thread["id"]), "channel": msg.channel},
    )
    return Stored("stored", thread["id"], message_id, wants_turn)


async def apply_status(conn: asyncpg.Connection, tenant_id: TenantId, delivery_id: UUID, st: StatusUpdate) -> Stored:
    row = await conn.fetchrow(
        """select id, message_id, thread_id, status_rank from outbound_deliveries
           where tenant_id = $1 and provider_message_id = $2 for update""",
        tenant_id,
        st.provider_message_id,
    )
    if row is None:
        await conn.execute(
            "update inbound_deliveries set outcome = 'unmatched' where tenant_id = $1 and id = $2",
            tenant_id,
            delivery_id,
        )
        return Stored("status_unmatched")
    rank = STATUS_RANK[st.status]
    outcome = "status_stale"
    if rank > row["status_rank"]:
        reason = f"{st.error_code}: {st.error_title}" if st.status == "failed" else None
        await conn.execute(
            f"""update outbound_deliveries set status = $3, status_rank = $4, updated_at = now(),
                   error_code = coalesce($5, error_code), error = coalesce($6, error)
                   {", delivered_at = coalesce(delivered_at, $7)" if st.status in ("delivered", "read") else ""}
                   {", read_at = $7" if st.status == "read" else ""}
                where tenant_id = $1 and id = $2""",
            tenant_id,
            row["id"],
            st.status,
            rank,
            st.error_code,
            reason,
            st.at,
        )
        await conn.execute(
            """update messages set status = $3, status_at = $4, status_reason = coalesce($5, status_reason)
               where tenant_id = $1 and id = $2""",
            tenant_id,
            row["message_id"],
            st.status,
            st.at,
            reason,
        )
        await emit(
            conn,
            tenant_id,
            "message.status",
            {"message_id": str(row["message_id"]), "thread_id": str(row["thread_id"]), "status": st.status},
        )
        outcome = "status_applied"
    await conn.execute(
        """update inbound_deliveries set processed_at = now(), outcome = $3, message_id = $4
           where tenant_id = $1 and id = $2""",
        tenant_id,
        delivery_id,
        outcome,
        row["message_id"],
    )
    return Stored(outcome, row["thread_id"], row["message_id"], outbound_id=row["id"])


async def apply_pending_statuses(
    conn: asyncpg.Connection, tenant_id: TenantId, provider: str, provider_message_id: str
) -> int:
    """Statuses that arrived before we recorded the send's id (fast providers do that)."""
    rows = await conn.fetch(
        """select id, item from inbound_deliveries
           where tenant_id = $1 and provider = $2 and provider_message_id = $3 and kind = 'status'
             and processed_at is null order by received_at""",
        tenant_id,
        provider,
        provider_message_id,
    )
    for r in rows:
        await apply_status(conn, tenant_id, r["id"], StatusUpdate.model_validate(r["item"]))
    return len(rows)


async def process_delivery(conn: asyncpg.Connection, tenant_id: TenantId, delivery_id: UUID) -> Stored:
    row = await conn.fetchrow(
        """select id, kind, channel_account_id, item, processed_at from inbound_deliveries
           where tenant_id = $1 and id = $2 for update""",
        tenant_id,
        delivery_id,
    )
    if row is None or row["processed_at"] is not None:
        return Stored("duplicate")
    if row["kind"] == "message":
        msg = InboundMessage.model_validate(row["item"])
        return await store_message(conn, tenant_id, row["id"], row["channel_account_id"], msg)
    return await apply_status(conn, tenant_id, row["id"], StatusUpdate.model_validate(row["item"]))


__all__ = ["Stored", "apply_pending_statuses", "apply_status", "process_delivery", "store_message"]
