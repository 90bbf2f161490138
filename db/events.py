"""The outbox: events are rows of ``event_log`` written in the caller's transaction.

``emit`` also NOTIFYs the relay; the notification is delivered only if the transaction
commits, so the relay wakes up exactly when there is something new to publish.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from core.events import Event
from core.logging import request_id_var
from core.tenancy import TenantId

OUTBOX_CHANNEL = "tridium_outbox"


async def emit(conn: asyncpg.Connection, tenant_id: TenantId, type_: str, payload: dict[str, Any]) -> Event:
    """Record an event in the current (tenant) transaction."""
    row = await conn.fetchrow(
        """with e as (
               insert into event_log (tenant_id, type, payload, request_id) values ($1, $2, $3, $4)
               returning id, tenant_id, type, payload, created_at, request_id)
           select e.*, pg_notify($5, '') from e""",
        tenant_id,
        type_,
        payload,
        request_id_var.get(),
        OUTBOX_CHANNEL,
    )
    assert row is not None
    return Event(**{k: v for k, v in row.items() if k != "pg_notify"})


async def claim_unpublished(conn: asyncpg.Connection, limit: int = 500) -> list[Event]:
    """Relay side (relay role, inside a transaction): lock a batch of unpublished events.

    SKIP LOCKED lets several relays run without publishing the same row concurrently.
    """
    rows = await conn.fetch(
        """select id, tenant_id, type, payload, created_at, request_id from event_log
           where published_at is null order by created_at, id
           limit $1 for update skip locked""",
        limit,
    )
    return [Event(**dict(r)) for r in rows]


async def mark_published(conn: asyncpg.Connection, ids: list[Any]) -> None:
    await conn.execute("update event_log set published_at = now() where id = any($1::uuid[])", ids)


async def outbox_lag_seconds(conn: asyncpg.Connection) -> float:
    """Age of the oldest unpublished event (0 when none): the outbox lag metric."""
    lag = await conn.fetchval(
        "select coalesce(extract(epoch from now() - min(created_at)), 0) from event_log where published_at is null"
    )
    return float(lag or 0)


__all__ = ["OUTBOX_CHANNEL", "claim_unpublished", "emit", "mark_published", "outbox_lag_seconds"]
