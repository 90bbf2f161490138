"""The ``ads`` consumer group and the conversion sender (plain asyncio; Serve hosts it in
``serve.ads.worker_runtime``).

- ``payment.succeeded`` / ``deal.won`` → one ``purchase`` conversion per sale
  (``tools.ads.conversions``), inside the event's tenant transaction with the
  ``processed_events`` marker: a redelivered event is a no-op, and the deal/payment pair of
  one sale shares an event id. The lead is marked a customer for nurture/retargeting
  (``suppress_lead``; Lucy's ``record_conversion`` does the same on ``deal.won``).
- ``creative.approved`` → Clio's approved version goes to the platform as a PAUSED ad
  through the change queue (``tools.ads.publish``).
- A sender loop sends what is queued and due, for every tenant that has some (one definer
  function across tenants, migration 0015), with retries and backoff.

Nothing is lost when the worker dies: conversions are rows first; a claimed row whose
sender died is due again after its lease; stream entries not acked are reclaimed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis
from redis.exceptions import RedisError

from core.events import Event
from core.tenancy import TenantId
from db.bus import StreamConsumer, cancel_and_wait, raise_if_cancelled, wait_event

from .accounts import AdsDeps
from .conversions import RetryPolicy, conversion_from_event, send_due, suppress_lead, tenants_with_due
from .publish import publish_approved_version

log = logging.getLogger("tridium.ads")

GROUP = "ads"
EVENT_TYPES = frozenset({"payment.succeeded", "deal.won", "creative.approved"})


@dataclass(frozen=True)
class AdsWorkerConfig:
    tick_s: float = 1.0
    stop_timeout_s: float = 10.0  # how long a stopping worker waits for its sender
    policy: RetryPolicy = field(default_factory=RetryPolicy)


class AdsWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        stream: str,
        deps: AdsDeps,
        config: AdsWorkerConfig | None = None,
        *,
        name: str = "ads-1",
        min_idle_ms: int = 30_000,
        block_ms: int = 1000,
    ) -> None:
        self._pool = pool
        self._deps = deps
        self.config = config or AdsWorkerConfig()
        self.handled = 0
        self.sent = 0
        self.failed = 0
        self.errors = 0
        self._wake = asyncio.Event()
        self._sender_task: asyncio.Task[None] | None = None
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
        self.handled += 1
        if event.type == "creative.approved":
            await publish_approved_version(conn, tenant_id, event.payload, deps=self._deps)
            return
        conversion = await conversion_from_event(conn, tenant_id, event.type, event.payload, event.id, event.created_at)
        lead = event.payload.get("lead_id")
        if lead:
            await suppress_lead(conn, tenant_id, UUID(lead), f"{event.type} {event.id}", event.id)
        if conversion is not None and conversion["status"] == "queued":
            self._wake.set()  # committed right after this returns; the sender picks it up

    async def send_all(self) -> list[dict[str, Any]]:
        """One round of the sender: every tenant with due conversions."""
        out: list[dict[str, Any]] = []
        for tenant_id in await tenants_with_due(self._pool):
            results = await send_due(self._pool, tenant_id, self._deps, policy=self.config.policy)
            self.sent += sum(1 for r in results if r["status"] == "sent")
            self.failed += sum(1 for r in results if r["status"] == "failed")
            out.extend(results)
        return out

    async def _sender(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            raise_if_cancelled()  # see db.bus.raise_if_cancelled: a swallowed cancel still ends the sender
            await wait_event(self._wake, self.config.tick_s)  # not wait_for: it can swallow a cancel
            self._wake.clear()
            try:
                await self.send_all()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("conversion sender cannot reach Postgres; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
            except Exception:
                # Never let one bad round end the sender for good: the claimed rows come due
                # again after their lease, and the next round retries them.
                self.errors += 1
                log.exception("conversion sender round failed; continuing")
                await asyncio.sleep(1.0)

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.consumer.ensure_group()
        sender = self._sender_task = asyncio.create_task(self._sender(stop), name="ads-conversion-sender")
        try:
            while not stop.is_set():
                raise_if_cancelled()
                try:
                    await self.consumer.linger(await self.consumer.run_once())
                except (RedisError, OSError) as exc:
                    log.warning("ads worker cannot read the stream; retrying", extra={"error": str(exc)})
                    await asyncio.sleep(1.0)
        finally:
            # Bounded: a sender that swallowed its cancel is logged, not waited on forever.
            await cancel_and_wait([sender], self.config.stop_timeout_s, "ads worker")

    @property
    def sender_alive(self) -> bool:
        """False once the sender task has ended (not yet started counts as alive)."""
        return self._sender_task is None or not self._sender_task.done()

    def stats(self) -> dict[str, int]:
        return {"handled": self.handled, "sent": self.sent, "failed": self.failed, "errors": self.errors}


__all__ = ["EVENT_TYPES", "GROUP", "AdsWorker", "AdsWorkerConfig"]
