"""Payments queries: the tenant's Asaas integration, invoices (checkout intents), payments
and the raw Asaas events. Every function takes a connection inside ``tenant_tx`` and the
tenant it was opened for; every statement names the tenant (RLS is the backstop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import NotFound
from core.tenancy import TenantId

from .crm import decode_cursor, encode_cursor
from .events import OUTBOX_CHANNEL

ASAAS_EVENT_RECEIVED = "asaas.event.received"
# Internal: a payment became OVERDUE under a policy with asaas_dunning (tools.payments.dunning).
ASAAS_DUNNING_DUE = "asaas.dunning.due"

INTENT_COLUMNS = """i.id, i.external_id, i.deal_id, i.lead_id, i.method, i.amount_cents, i.status, i.url,
    i.meta, i.customer_id, i.due_date, i.paid_at, i.created_at, i.updated_at"""


@dataclass(frozen=True, slots=True)
class Integration:
    tenant_id: TenantId
    provider: str
    base_url: str
    api_key_ref: str
    webhook_token_hash: str | None
    webhook_id: str | None
    webhook_url: str | None
    webhook_send_type: str | None
    webhook_events: list[str] = field(default_factory=list)
    dunning_policy: dict[str, Any] = field(default_factory=dict)
    last_reconciled_at: datetime | None = None


_INTEGRATION_COLUMNS = """tenant_id, provider, base_url, api_key_ref, webhook_token_hash, webhook_id, webhook_url,
    webhook_send_type, webhook_events, dunning_policy, last_reconciled_at"""


def _integration(row: asyncpg.Record | None) -> Integration | None:
    return None if row is None else Integration(**dict(row))


async def get_integration(conn: asyncpg.Connection, tenant_id: TenantId, provider: str = "asaas") -> Integration | None:
    row = await conn.fetchrow(
        f"select {_INTEGRATION_COLUMNS} from integrations where tenant_id = $1 and provider = $2",
        tenant_id,
        provider,
    )
    return _integration(row)


async def webhook_token_hash(conn: asyncpg.Connection, tenant_id: TenantId, provider: str = "asaas") -> str | None:
    value: str | None = await conn.fetchval(
        "select webhook_token_hash from integrations where tenant_id = $1 and provider = $2", tenant_id, provider
    )
    return value


async def upsert_integration(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    base_url: str,
    api_key_ref: str,
    dunning_policy: dict[str, Any] | None = None,
    provider: str = "asaas",
) -> Integration:
    row = await conn.fetchrow(
        f"""insert into integrations (tenant_id, provider, base_url, api_key_ref, dunning_policy)
            values ($1, $2, $3, $4, coalesce($5, '{{"follow_up": true, "asaas_dunning": false}}'::jsonb))
            on conflict (tenant_id, provider) do update
               set base_url = excluded.base_url, api_key_ref = excluded.api_key_ref,
                   dunning_policy = coalesce($5, integrations.dunning_policy), updated_at = now()
            returning {_INTEGRATION_COLUMNS}""",
        tenant_id,
        provider,
        base_url,
        api_key_ref,
        dunning_policy,
    )
    integration = _integration(row)
    assert integration is not None
    return integration


async def set_webhook(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    webhook_id: str,
    url: str,
    send_type: str,
    events: list[str],
    token_hash: str | None,
    provider: str = "asaas",
) -> None:
    """Record the provisioned webhook; ``token_hash=None`` keeps the stored one."""
    await conn.execute(
        """update integrations set webhook_id = $3, webhook_url = $4, webhook_send_type = $5, webhook_events = $6,
                  webhook_token_hash = coalesce($7, webhook_token_hash), updated_at = now()
           where tenant_id = $1 and provider = $2""",
        tenant_id,
        provider,
        webhook_id,
        url,
        send_type,
        events,
        token_hash,
    )


async def set_dunning_policy(
    conn: asyncpg.Connection, tenant_id: TenantId, policy: dict[str, Any], provider: str = "asaas"
) -> bool:
    """Replace the tenant's dunning policy; False when it has no integration."""
    status: str = await conn.execute(
        "update integrations set dunning_policy = $3, updated_at = now() where tenant_id = $1 and provider = $2",
        tenant_id,
        provider,
        policy,
    )
    return status != "UPDATE 0"


async def mark_reconciled(conn: asyncpg.Connection, tenant_id: TenantId, provider: str = "asaas") -> None:
    await conn.execute(
        "update integrations set last_reconciled_at = now() where tenant_id = $1 and provider = $2",
        tenant_id,
        provider,
    )


# Raw Asaas events --------------------------------------------------------------------------


async def store_asaas_event(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    event_id: str,
    event_type: str,
    payment_id: str | None,
    payload: dict[str, Any],
    request_id: str | None,
) -> int | None:
    """Insert the raw event once and, in the same statement, its outbox event.

    Returns the new row id, or None for a duplicate (nothing else written). One statement
    instead of ``db.events.emit`` keeps the webhook's acknowledgement to a single round
    trip inside its transaction; the NOTIFY wakes the relay like ``emit`` does.
    """
    row = await conn.fetchrow(
        """with ins as (
               insert into asaas_events (tenant_id, event_id, event_type, payment_id, payload)
               values ($1, $2, $3, $4, $5)
               on conflict (tenant_id, event_id) do nothing
               returning id
           ), outbox as (
               insert into event_log (tenant_id, type, payload, request_id)
               select $1, $6, jsonb_build_object('asaas_event', ins.id, 'event_id', $2::text,
                                                 'event', $3::text, 'payment_id', $4::text), $7
               from ins
               returning id
           )
           select (select id from ins) as id,
                  (select pg_notify($8, '') from outbox limit 1) is not null as notified""",
        tenant_id,
        event_id,
        event_type,
        payment_id,
        payload,
        ASAAS_EVENT_RECEIVED,
        request_id,
        OUTBOX_CHANNEL,
    )
    assert row is not None
    value: int | None = row["id"]
    return value


async def ingest_asaas_event(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    token_hash: str,
    event_id: str,
    event_type: str,
    payment_id: str | None,
    payload: dict[str, Any],
    request_id: str | None,
) -> str:
    """Token check + raw event + outbox event + NOTIFY in ONE autocommit statement
    (``asaas_ingest_event``, migration 0016, ADR 0008): ``stored``, ``duplicate`` or
    ``unauthorized`` (nothing written).

    Unlike the other functions here it must NOT run inside ``tenant_tx``: it sets the
    tenant context itself, transaction-locally, and its statement is its transaction, so
    when it returns the event is committed and flushed."""
    if conn.is_in_transaction():
        raise RuntimeError("ingest_asaas_event runs in autocommit mode, not inside a transaction")
    outcome: str = await conn.fetchval(
        "select asaas_ingest_event($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        tenant_id,
        token_hash,
        event_id,
        event_type,
        payment_id,
        payload,
        request_id,
        ASAAS_EVENT_RECEIVED,
        OUTBOX_CHANNEL,
    )
    return outcome


@dataclass(frozen=True, slots=True)
class AsaasIngestItem:
    """One delivery for :func:`ingest_asaas_events` (``payload_json``: the event as JSON text)."""

    tenant_id: TenantId
    token_hash: str
    event_id: str
    event_type: str
    payment_id: str | None
    payload_json: str
    request_id: str | None


async def ingest_asaas_events(conn: asyncpg.Connection, items: Sequence[AsaasIngestItem]) -> list[str]:
    """Many deliveries in ONE autocommit statement (``asaas_ingest_events``, migration 0017,
    ADR 0010): per item, in order, ``stored``, ``duplicate`` or ``unauthorized``. The
    statement is the batch's transaction: all of it is committed and flushed when this
    returns, or (on any error) none of it is. Like :func:`ingest_asaas_event` it must not run
    inside a transaction. Cancelled while it runs (a timeout), whether it committed is
    unknown: storing the same items again answers ``duplicate`` for those it did."""
    if conn.is_in_transaction():
        raise RuntimeError("ingest_asaas_events runs in autocommit mode, not inside a transaction")
    outcomes: list[str] = await conn.fetchval(
        "select asaas_ingest_events($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [i.tenant_id for i in items],
        [i.token_hash for i in items],
        [i.event_id for i in items],
        [i.event_type for i in items],
        [i.payment_id for i in items],
        [i.payload_json for i in items],
        [i.request_id for i in items],
        ASAAS_EVENT_RECEIVED,
        OUTBOX_CHANNEL,
    )
    return outcomes


async def get_asaas_event(conn: asyncpg.Connection, tenant_id: TenantId, row_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """select id, event_id, event_type, payment_id, payload, received_at, processed_at, outcome
           from asaas_events where tenant_id = $1 and id = $2""",
        tenant_id,
        row_id,
    )
    return None if row is None else dict(row)


async def mark_asaas_event(conn: asyncpg.Connection, tenant_id: TenantId, row_id: int, outcome: str) -> None:
    await conn.execute(
        "update asaas_events set processed_at = now(), outcome = $3 where tenant_id = $1 and id = $2",
        tenant_id,
        row_id,
        outcome,
    )


async def log_error(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    source: str,
    code: str,
    message: str,
    payload: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "insert into error_logs (tenant_id, source, code, message, payload) values ($1, $2, $3, $4, $5)",
        tenant_id,
        source,
        code,
        message[:2000],
        payload,
    )


# Invoices (checkout intents) and payments ---------------------------------------------------


async def insert_intent(conn: asyncpg.Connection, tenant_id: TenantId, data: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""insert into invoices as i (id, tenant_id, provider, external_id, deal_id, lead_id, method, amount_cents,
                                       status, url, meta, customer_id, due_date)
            values ($1, $2, 'asaas', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            returning {INTENT_COLUMNS}""",
        data["id"],
        tenant_id,
        data["external_id"],
        data.get("deal_id"),
        data.get("lead_id"),
        data["method"],
        data["amount_cents"],
        data["status"],
        data.get("url"),
        data.get("meta") or {},
        data.get("customer_id"),
        data.get("due_date"),
    )
    assert row is not None
    return dict(row)


async def get_intent(
    conn: asyncpg.Connection, tenant_id: TenantId, intent_id: UUID, *, for_update: bool = False
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {INTENT_COLUMNS} from invoices i where i.tenant_id = $1 and i.id = $2"
        + (" for update" if for_update else ""),
        tenant_id,
        intent_id,
    )
    if row is None:
        raise NotFound("payment intent not found", details={"id": str(intent_id)})
    return dict(row)


async def find_intent_for_payment(
    conn: asyncpg.Connection, tenant_id: TenantId, payment_id: str, external_reference: str | None
) -> dict[str, Any] | None:
    """The intent an Asaas payment belongs to (by its id, else by externalReference = intent
    id), locked: every state change of one intent is serialised on this row."""
    ref: UUID | None = None
    if external_reference:
        try:
            ref = UUID(external_reference)
        except ValueError:
            ref = None
    row = await conn.fetchrow(
        f"""select {INTENT_COLUMNS} from invoices i
            where i.tenant_id = $1 and i.provider = 'asaas' and (i.external_id = $2 or i.id = $3)
            order by (i.external_id = $2) desc nulls last limit 1 for update""",
        tenant_id,
        payment_id,
        ref,
    )
    return None if row is None else dict(row)


async def list_intents(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
) -> dict[str, Any]:
    args: list[Any] = [tenant_id]
    where = ["i.tenant_id = $1", "i.provider = 'asaas'"]
    for sql, value in (
        ("i.status = {}", status),
        ("i.created_at >= {}::date", created_from),
        ("i.created_at < ({}::date + 1)", created_to),
    ):
        if value is not None:
            args.append(value)
            where.append(sql.format(f"${len(args)}"))
    if cursor:
        ts, id_ = decode_cursor(cursor)
        args.extend([ts, id_])
        where.append(f"(i.created_at, i.id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await conn.fetch(
        f"""select {INTENT_COLUMNS} from invoices i where {" and ".join(where)}
            order by i.created_at desc, i.id desc limit ${len(args)}""",
        *args,
    )
    items = [dict(r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1]["created_at"], items[-1]["id"]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


async def get_payment_row(conn: asyncpg.Connection, tenant_id: TenantId, external_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """select id, invoice_id, external_id, status, status_rank, billing_type, value_cents, net_value_cents,
                  paid_at, raw, updated_at
           from payments where tenant_id = $1 and external_id = $2""",
        tenant_id,
        external_id,
    )
    return None if row is None else dict(row)


async def upsert_payment_row(
    conn: asyncpg.Connection, tenant_id: TenantId, invoice_id: UUID, data: dict[str, Any]
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """insert into payments (tenant_id, invoice_id, external_id, status, status_rank, billing_type,
                                 value_cents, net_value_cents, raw, paid_at, occurred_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now())
           on conflict (tenant_id, external_id) do update
              set status = excluded.status, status_rank = excluded.status_rank,
                  billing_type = excluded.billing_type, value_cents = excluded.value_cents,
                  net_value_cents = excluded.net_value_cents, raw = excluded.raw,
                  paid_at = coalesce(payments.paid_at, excluded.paid_at), updated_at = now()
           returning id, status, paid_at""",
        tenant_id,
        invoice_id,
        data["external_id"],
        data["status"],
        data["status_rank"],
        data.get("billing_type"),
        data.get("value_cents"),
        data.get("net_value_cents"),
        data.get("raw") or {},
        data.get("paid_at"),
    )
    assert row is not None
    return dict(row)


async def update_intent_status(
    conn: asyncpg.Connection, tenant_id: TenantId, intent_id: UUID, status: str, *, paid: bool
) -> None:
    await conn.execute(
        """update invoices set status = $3, updated_at = now(),
                  paid_at = case when $4 then coalesce(paid_at, now()) else paid_at end
           where tenant_id = $1 and id = $2""",
        tenant_id,
        intent_id,
        status,
        paid,
    )


async def set_intent_meta(
    conn: asyncpg.Connection, tenant_id: TenantId, intent_id: UUID, key: str, value: dict[str, Any]
) -> None:
    """Set one top-level key of an intent's ``meta`` (e.g. its dunning record)."""
    await conn.execute(
        """update invoices set meta = coalesce(meta, '{}'::jsonb) || jsonb_build_object($3::text, $4::jsonb),
                  updated_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        intent_id,
        key,
        value,
    )


async def latest_thread_of_lead(conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID) -> UUID | None:
    value: UUID | None = await conn.fetchval(
        "select id from threads where tenant_id = $1 and lead_id = $2 order by created_at desc limit 1",
        tenant_id,
        lead_id,
    )
    return value


__all__ = [
    "ASAAS_DUNNING_DUE",
    "ASAAS_EVENT_RECEIVED",
    "Integration",
    "find_intent_for_payment",
    "get_asaas_event",
    "get_integration",
    "get_intent",
    "get_payment_row",
    "AsaasIngestItem",
    "ingest_asaas_event",
    "ingest_asaas_events",
    "insert_intent",
    "latest_thread_of_lead",
    "list_intents",
    "log_error",
    "mark_asaas_event",
    "mark_reconciled",
    "set_dunning_policy",
    "set_intent_meta",
    "set_webhook",
    "store_asaas_event",
    "update_intent_status",
    "upsert_integration",
    "upsert_payment_row",
    "webhook_token_hash",
]
