"""The payments consumer group: reconciles every stored Asaas event from the bus, and
requests the Asaas dunnings the tenants' policies call for.

``PaymentsWorker`` wraps a ``db.bus.StreamConsumer`` (group ``payments``) whose handler
runs ``reconcile_event`` (``asaas.event.received``) or ``request_dunning``
(``asaas.dunning.due``) inside the event's tenant transaction, together with the
``processed_events`` marker, and acknowledges only after that commit. A worker killed
mid-way leaves its entries pending; another (or the same, restarted) reclaims them after
``min_idle_ms`` and the dedupe marker plus status precedence make the replay harmless.
Plain asyncio: the Serve deployment (``serve.payments_runtime``) hosts it on Ray.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta

import asyncpg
import redis.asyncio as redis

from core.events import Event
from core.tenancy import TenantId
from db import payments as q
from db.bus import StreamConsumer
from db.pool import tenant_tx

from .accounts import AsaasAccounts
from .dunning import request_dunning
from .reconcile import reconcile_event

log = logging.getLogger("tridium.payments")

GROUP = "payments"
EVENT_TYPES = frozenset({q.ASAAS_EVENT_RECEIVED, q.ASAAS_DUNNING_DUE})


class PaymentsWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        stream: str,
        accounts: AsaasAccounts,
        *,
        name: str = "payments-1",
        min_idle_ms: int = 30_000,
        block_ms: int = 1000,
    ) -> None:
        self._accounts = accounts
        self.handled = 0
        self.consumer = StreamConsumer(
            pool,
            client,
            stream,
            GROUP,
            name,
            self.handle,
            types=set(EVENT_TYPES),
            min_idle_ms=min_idle_ms,
            block_ms=block_ms,
        )

    async def handle(self, conn: asyncpg.Connection, event: Event) -> None:
        tenant_id = TenantId(event.tenant_id)
        if event.type == q.ASAAS_DUNNING_DUE:
            outcome = await request_dunning(conn, tenant_id, event.payload, self._accounts)
            self.handled += 1
            log.info("asaas dunning handled", extra={"payment_id": event.payload.get("payment_id"), "outcome": outcome})
            return
        outcome = await reconcile_event(conn, tenant_id, event.payload, self._accounts)
        self.handled += 1
        log.info("asaas event reconciled", extra={"event_id": event.payload.get("event_id"), "outcome": outcome})

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.consumer.run_forever(stop)


async def tenants_with_asaas(pool: asyncpg.Pool) -> list[tuple[TenantId, date | None]]:
    """Tenants that have an Asaas integration, with the date of their last reconciliation.

    ``tenants`` is a platform table; each integration is then read in its own tenant
    transaction, so no query spans tenants' data."""
    async with pool.acquire() as conn:
        ids = [TenantId(r["id"]) for r in await conn.fetch("select id from tenants order by id")]
    found: list[tuple[TenantId, date | None]] = []
    for tenant_id in ids:
        async with tenant_tx(pool, tenant_id) as conn:
            integration = await q.get_integration(conn, tenant_id)
        if integration is not None:
            last = integration.last_reconciled_at
            found.append((tenant_id, last.date() if last else None))
    return found


def drift_window_start(last: date | None, today: date, *, default_days: int = 3) -> date:
    """Re-read from a day before the last run (late webhooks, time zones), at least
    ``default_days`` back when the tenant was never reconciled."""
    return (last - timedelta(days=1)) if last else today - timedelta(days=default_days)


__all__ = ["EVENT_TYPES", "GROUP", "PaymentsWorker", "drift_window_start", "tenants_with_asaas"]
