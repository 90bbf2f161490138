"""Sending answer parts through the thread's channel, once, with retries and statuses.

``enqueue_part`` (in the caller's transaction) writes the ``outbound_deliveries`` row under
its idempotency key — ``run:<run id>:<part>`` for Luddy, ``staff:<key>`` for a person — and
an ``inbox.outbound.queued`` event; the same key again returns the existing row, so a
retried run or request never creates a second send.

``deliver`` is the only code that calls a connector. It takes the row from ``queued`` to
``sending`` in its own transaction (a concurrent deliverer skips it), checks the reply
window, sends, and records ``sent`` + the provider message id (then applies status
callbacks that arrived first). A retriable refusal (rate limit, 5xx, unreachable) goes
back to ``queued`` with ``next_attempt_at`` = exponential backoff with jitter (or the
provider's Retry-After); after ``max_attempts``, or on a final refusal, the row and its
message end ``failed`` with the reason. A send whose outcome is unknown (the connection
broke after the request went out) is not retried: WhatsApp has no idempotency key, so a
retry could deliver twice; it ends ``failed`` with reason ``outcome_unknown`` for a person
to check.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import TridiumError
from core.tenancy import TenantId
from db.bus import raise_if_cancelled
from db.events import emit
from db.pool import tenant_tx
from tools.channels import (
    STATUS_RANK,
    ChannelSendError,
    ConnectorRegistry,
    OutboundPart,
    WindowState,
)

from .accounts import account_view
from .crypto import SecretBox
from .store import apply_pending_statuses

log = logging.getLogger("tridium.inbox")

OUTBOUND_QUEUED = "inbox.outbound.queued"


async def enqueue_part(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    thread_id: UUID,
    message_id: UUID,
    account_id: UUID,
    recipient: str,
    part: OutboundPart,
    idempotency_key: str,
    run_id: UUID | None = None,
    part_no: int = 0,
) -> UUID:
    row_id = await conn.fetchval(
        """insert into outbound_deliveries (tenant_id, thread_id, message_id, channel_account_id, idempotency_key,
                                            run_id, part, recipient, content)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           on conflict (tenant_id, idempotency_key) do nothing returning id""",
        tenant_id,
        thread_id,
        message_id,
        account_id,
        idempotency_key,
        run_id,
        part_no,
        recipient,
        part.model_dump(mode="json"),
    )
    if row_id is None:
        existing = await conn.fetchval(
            "select id from outbound_deliveries where tenant_id = $1 and idempotency_key = $2",
            tenant_id,
            idempotency_key,
        )
        return UUID(str(existing))
    await conn.execute(
        "update messages set status = 'queued', status_at = now() where tenant_id = $1 and id = $2",
        tenant_id,
        message_id,
    )
    await emit(conn, tenant_id, OUTBOUND_QUEUED, {"outbound_id": str(row_id), "thread_id": str(thread_id)})
    return UUID(str(row_id))


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 5
    base_s: float = 1.0
    cap_s: float = 60.0

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(self.cap_s, retry_after_s)
        raw = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        return float(raw * (0.5 + random.random() / 2))  # jitter


async def _fail(conn: asyncpg.Connection, tenant_id: TenantId, row: asyncpg.Record, code: str, reason: str) -> None:
    await conn.execute(
        """update outbound_deliveries set status = 'failed', status_rank = greatest(status_rank, $3),
               error_code = $4, error = $5, updated_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        row["id"],
        STATUS_RANK["failed"],
        code,
        reason[:1000],
    )
    await conn.execute(
        """update messages set status = 'failed', status_reason = $3, status_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        row["message_id"],
        f"{code}: {reason}"[:1000],
    )
    await emit(
        conn,
        tenant_id,
        "inbox.outbound.failed",
        {"outbound_id": str(row["id"]), "thread_id": str(row["thread_id"]), "code": code, "reason": reason[:500]},
    )


async def deliver(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    outbound_id: UUID,
    connectors: ConnectorRegistry,
    box: SecretBox,
    policy: DeliveryPolicy,
) -> str:
    """Send one outbound part until it is sent or failed; returns the final status."""
    while True:
        raise_if_cancelled()  # a stopping worker's cancel, even one a library swallowed, ends the retries
        async with tenant_tx(pool, tenant_id) as conn:
            row = await conn.fetchrow(
                """select o.id, o.thread_id, o.message_id, o.channel_account_id, o.recipient, o.content, o.status,
                          o.attempts, o.next_attempt_at, t.last_inbound_at, t.channel
                   from outbound_deliveries o join threads t on t.tenant_id = o.tenant_id and t.id = o.thread_id
                   where o.tenant_id = $1 and o.id = $2 for update of o skip locked""",
                tenant_id,
                outbound_id,
            )
            if row is None:
                return "busy"  # another deliverer holds it
            if row["status"] != "queued":
                return str(row["status"])
            now = datetime.now(UTC)
            wait = (row["next_attempt_at"] - now).total_seconds()
            if wait > 0:
                pass  # sleep outside the transaction below
            else:
                part = OutboundPart.model_validate(row["content"])
                connector = connectors.get(row["channel"])
                try:
                    connector.check_window(part, WindowState(row["last_inbound_at"], now))
                    account = await account_view(conn, tenant_id, row["channel_account_id"], box)
                except TridiumError as exc:
                    await _fail(conn, tenant_id, row, exc.code, exc.message)
                    return "failed"
                await conn.execute(
                    """update outbound_deliveries set status = 'sending', status_rank = $3, attempts = attempts + 1,
                           updated_at = now() where tenant_id = $1 and id = $2""",
                    tenant_id,
                    outbound_id,
                    STATUS_RANK["sending"],
                )
        if wait > 0:
            await asyncio.sleep(min(wait, policy.cap_s))
            continue
        attempt = row["attempts"] + 1
        try:
            result = await connector.send(account, row["recipient"], part)
        except ChannelSendError as exc:
            async with tenant_tx(pool, tenant_id) as conn:
                if exc.retriable and attempt < policy.max_attempts:
                    delay = policy.backoff(attempt, exc.retry_after_s)
                    await conn.execute(
                        """update outbound_deliveries set status = 'queued', status_rank = 0,
                               next_attempt_at = now() + $3, error_code = $4, error = $5, updated_at = now()
                           where tenant_id = $1 and id = $2""",
                        tenant_id,
                        outbound_id,
                        timedelta(seconds=delay),
                        exc.provider_code or exc.code,
                        exc.message[:1000],
                    )
                    log.info(
                        "outbound send will be retried",
                        extra={"outbound_id": str(outbound_id), "attempt": attempt, "delay_s": round(delay, 2)},
                    )
                    continue
                await _fail(conn, tenant_id, row, exc.provider_code or exc.code, exc.message)
            return "failed"
        except (TridiumError, ValueError) as exc:
            async with tenant_tx(pool, tenant_id) as conn:
                code = exc.code if isinstance(exc, TridiumError) else "invalid_part"
                await _fail(conn, tenant_id, row, code, str(exc))
            return "failed"
        async with tenant_tx(pool, tenant_id) as conn:
            await conn.execute(
                """update outbound_deliveries set status = 'sent', status_rank = greatest(status_rank, $3),
                       provider_message_id = $4, sent_at = now(), error_code = null, error = null, updated_at = now()
                   where tenant_id = $1 and id = $2""",
                tenant_id,
                outbound_id,
                STATUS_RANK["sent"],
                result.provider_message_id,
            )
            await conn.execute(
                """update messages set status = 'sent', status_at = now(), provider_message_id = $3
                   where tenant_id = $1 and id = $2""",
                tenant_id,
                row["message_id"],
                result.provider_message_id,
            )
            await emit(
                conn,
                tenant_id,
                "message.sent",
                {"message_id": str(row["message_id"]), "thread_id": str(row["thread_id"]), "channel": row["channel"]},
            )
            await apply_pending_statuses(conn, tenant_id, connector.provider, result.provider_message_id)
        return "sent"


async def send_through_channel(conn: asyncpg.Connection, tenant_id: TenantId, message: dict[str, Any]) -> UUID | None:
    """``POST /messages`` with direction out on a channel thread: the message goes out through
    the thread's channel (key ``message:<id>``); threads without an account just record it."""
    thread = await conn.fetchrow(
        "select channel_account_id, external_id from threads where tenant_id = $1 and id = $2",
        tenant_id,
        message["thread_id"],
    )
    if message["direction"] != "out" or thread is None or thread["channel_account_id"] is None:
        return None
    return await enqueue_part(
        conn,
        tenant_id,
        thread_id=message["thread_id"],
        message_id=message["id"],
        account_id=thread["channel_account_id"],
        recipient=thread["external_id"],
        part=OutboundPart(kind="text", text=str(message["body"])[:4096]),
        idempotency_key=f"message:{message['id']}",
    )


async def due_outbound(conn: asyncpg.Connection, tenant_id: TenantId) -> list[UUID]:
    """Rows a dead worker left queued (recovery on start); ``sending`` ones end outcome_unknown."""
    stuck = await conn.fetch(
        "select id, thread_id, message_id from outbound_deliveries where tenant_id = $1 and status = 'sending'",
        tenant_id,
    )
    for row in stuck:
        await _fail(conn, tenant_id, row, "outcome_unknown", "the worker stopped while sending; not resent")
    rows = await conn.fetch("select id from outbound_deliveries where tenant_id = $1 and status = 'queued'", tenant_id)
    return [r["id"] for r in rows]


__all__ = ["OUTBOUND_QUEUED", "DeliveryPolicy", "deliver", "due_outbound", "enqueue_part", "send_through_channel"]
