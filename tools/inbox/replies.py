"""What an answer part needs from the conversation to thread on its channel (channels branch).

E-mail: ``reply_to`` = the customer's last Message-ID, ``references`` and ``subject`` from
that message (``messages.meta.extra``, written by the e-mail parser), so the SMTP answer
carries In-Reply-To/References and lands in the customer's thread. Staff parts are marked
``sent_by="staff"`` (Instagram allows people, not bots, to answer for 7 days).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg

from core.tenancy import TenantId
from tools.channels import OutboundPart


async def with_reply_context(
    conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID, channel: str, part: OutboundPart
) -> OutboundPart:
    if channel != "email" or part.reply_to:
        return part
    row = await conn.fetchrow(
        """select provider_message_id, meta from messages
           where tenant_id = $1 and thread_id = $2 and direction = 'in' and provider_message_id is not null
           order by created_at desc, id desc limit 1""",
        tenant_id,
        thread_id,
    )
    if row is None:
        return part
    meta: Any = row["meta"]
    if isinstance(meta, str):
        meta = json.loads(meta)
    extra = (meta or {}).get("extra") or {}
    refs = tuple(str(r) for r in reversed(extra.get("references") or []))[:50]  # stored nearest-first
    return part.model_copy(
        update={"reply_to": row["provider_message_id"], "references": refs, "subject": extra.get("subject")}
    )


__all__ = ["with_reply_context"]
