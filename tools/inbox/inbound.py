"""The inbox's front door: what a webhook route calls to durably accept a delivery.

``ingest`` is the whole receive path for a signed provider webhook, in ONE tenant
transaction: load the tenant's active accounts of the channel (secrets decrypted) → the
channel's ``authenticate`` says which accounts signed the raw body (none → 401 and the
transaction rolls back: nothing stored) → the channel's ``parse`` turns the body into an
``InboundBatch`` (``MalformedWebhook`` → an ``error_logs`` row, then 400) → ``accept``.
The route answers 200 only after the commit.

``accept`` stores each item once in ``inbound_deliveries`` (unique on tenant, provider and
event key) and, for each new one, writes an ``inbox.received`` outbox event in the same
transaction; the inbox worker (``tools.inbox.worker``) processes it from the stream. A
duplicate delivery inserts nothing and emits nothing. Items naming an account the tenant
does not have (or that did not sign this body) are acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from core.errors import Unauthorized
from core.tenancy import TenantId
from db import payments as payments_q
from db.events import emit
from db.pool import tenant_tx
from tools.channels import AccountView, InboundBatch, InboundMessage, MalformedWebhook, StatusUpdate

from .accounts import active_accounts
from .crypto import SecretBox

INBOX_RECEIVED = "inbox.received"

# Which of the candidate accounts signed the body (their ids); empty → 401.
Authenticate = Callable[[bytes, Sequence[AccountView]], list[UUID]]
Parse = Callable[[bytes], InboundBatch]


@dataclass(frozen=True, slots=True)
class Accepted:
    stored: int
    duplicates: int
    ignored: int  # items for an account id the tenant does not have (acknowledged, not processed)
    ignored_accounts: tuple[str, ...] = ()


async def accept(
    conn: asyncpg.Connection, tenant_id: TenantId, batch: InboundBatch, accounts: Sequence[AccountView]
) -> Accepted:
    """Store a verified batch in the caller's tenant transaction (see module docstring)."""
    by_external = {a.external_id: a for a in accounts}
    stored = duplicates = ignored = 0
    unknown: list[str] = []
    items: list[tuple[str, InboundMessage | StatusUpdate]] = [("message", m) for m in batch.messages]
    items += [("status", s) for s in batch.statuses]
    for kind, item in items:
        account = by_external.get(item.account_external_id)
        if account is None:
            ignored += 1
            if item.account_external_id not in unknown:
                unknown.append(item.account_external_id)
            continue
        key = item.provider_message_id if isinstance(item, InboundMessage) else item.event_key
        row_id = await conn.fetchval(
            """insert into inbound_deliveries
                   (tenant_id, channel_account_id, provider, kind, event_key, provider_message_id, item)
               values ($1, $2, $3, $4, $5, $6, $7)
               on conflict (tenant_id, provider, event_key) do nothing returning id""",
            tenant_id,
            account.id,
            item.provider,
            kind,
            key,
            item.provider_message_id,
            item.model_dump(mode="json"),
        )
        if row_id is None:
            duplicates += 1
            continue
        stored += 1
        await emit(
            conn,
            tenant_id,
            INBOX_RECEIVED,
            {"delivery_id": str(row_id), "kind": kind, "account_id": str(account.id), "provider": item.provider},
        )
    return Accepted(stored, duplicates, ignored, tuple(unknown))


async def ingest(
    pool: asyncpg.Pool,
    box: SecretBox,
    tenant_id: TenantId,
    *,
    channel: str,
    body: bytes,
    authenticate: Authenticate,
    parse: Parse,
) -> Accepted:
    """Authenticate, parse and durably accept one webhook delivery (module docstring)."""
    problem: MalformedWebhook | None = None
    async with tenant_tx(pool, tenant_id) as conn:
        accounts = await active_accounts(conn, tenant_id, channel, box)
        signed_by = set(authenticate(body, accounts))
        if not signed_by:
            raise Unauthorized("invalid webhook signature")  # rollback: nothing stored
        try:
            batch = parse(body)
        except MalformedWebhook as exc:
            problem = exc
            await payments_q.log_error(
                conn,
                tenant_id,
                source=f"webhooks.{channel}",
                code=exc.code,
                message=exc.message,
                payload={"body": body[:4000].decode("utf-8", "replace").replace("\x00", "")},
            )
        else:
            result = await accept(conn, tenant_id, batch, [a for a in accounts if a.id in signed_by])
    if problem is not None:
        raise problem
    return result


__all__ = ["INBOX_RECEIVED", "Accepted", "Authenticate", "Parse", "accept", "ingest"]
