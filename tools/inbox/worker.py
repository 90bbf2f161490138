"""The ``inbox`` consumer group and the burst-merge scheduler (plain asyncio; Serve hosts it
in ``serve.inbox``).

- ``inbox.received``: process the stored delivery (``store.process_delivery``) inside the
  event's tenant transaction with the ``processed_events`` marker (exactly-once effects);
  a message that wants Luddy schedules its thread.
- ``inbox.outbound.queued``: deliver the part (``outbound.deliver``) in a task.
- The scheduler keeps due threads in a Redis sorted set (member ``<tenant>:<thread>``,
  score = due time). A due thread is claimed (``turns.claim_turn``), answered by ONE Luddy
  run through the ``AgentPort``, and finished (``turns.finish_turn``), which queues the
  answer and reschedules messages that arrived meanwhile.

Nothing acknowledged is lost when the worker or Redis dies: deliveries and messages are
in Postgres first; stream entries not acked are reclaimed; on start ``recover`` re-reads
every tenant's pending threads, turns left active and queued sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

import asyncpg
import redis.asyncio as redis
from redis.exceptions import RedisError

from core.events import Event
from core.tenancy import TenantId
from db.bus import StreamConsumer, cancel_and_wait, raise_if_cancelled, wait_event
from db.pool import tenant_tx
from tools.channels import ConnectorRegistry

from .crypto import SecretBox
from .inbound import INBOX_RECEIVED
from .outbound import OUTBOUND_QUEUED, DeliveryPolicy, deliver, due_outbound
from .store import process_delivery
from .turns import Turn, claim_turn, finish_turn, pending_threads, stale_turn, stale_turns

log = logging.getLogger("tridium.inbox")

GROUP = "inbox"
EVENT_TYPES = frozenset({INBOX_RECEIVED, OUTBOUND_QUEUED})
DUE_KEY = "tridium:inbox:due"


async def _tenants_with_work(pool: asyncpg.Pool) -> list[TenantId]:
    """Tenants with an active turn, pending messages or queued/sending outbound rows (one
    definer function across tenants, migration 0008: cost follows the work, not the tenants)."""
    rows = await pool.fetch("select t from inbox_tenants_with_work() as t order by t")
    return [TenantId(r["t"]) for r in rows]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    status: str  # completed | failed | cancelled | interrupted | unknown
    output: str | None


class AgentPort(Protocol):
    """How the inbox reaches Luddy (``serve.inbox.RuntimeAgents`` over the agent runtime)."""

    async def answer(self, tenant_id: TenantId, turn: Turn) -> RunOutcome: ...

    async def outcome(self, tenant_id: TenantId, turn: Turn) -> RunOutcome: ...


@dataclass(frozen=True)
class InboxConfig:
    quiet_s: float = 4.0
    max_wait_s: float = 15.0
    tick_s: float = 0.2
    sweep_s: float = 30.0  # how often pending threads are re-read from Postgres
    stop_timeout_s: float = 10.0  # how long a stopping worker waits for its turns and deliveries
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)


class InboxWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        stream: str,
        agents: AgentPort,
        connectors: ConnectorRegistry,
        box: SecretBox,
        config: InboxConfig | None = None,
        *,
        name: str = "inbox-1",
        min_idle_ms: int = 30_000,
        block_ms: int = 1000,
    ) -> None:
        self._pool, self._redis = pool, client
        self._agents, self._connectors, self._box = agents, connectors, box
        self.config = config or InboxConfig()
        self._turning: set[tuple[UUID, UUID]] = set()
        self._delivering: set[UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.turns = 0
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

    # Stream -------------------------------------------------------------------------------

    async def handle(self, conn: asyncpg.Connection, event: Event) -> None:
        tenant_id = TenantId(event.tenant_id)
        self.handled += 1
        if event.type == INBOX_RECEIVED:
            stored = await process_delivery(conn, tenant_id, UUID(event.payload["delivery_id"]))
            if stored.wants_turn and stored.thread_id is not None:
                await self.schedule(tenant_id, stored.thread_id, self.config.quiet_s)
        elif event.type == OUTBOUND_QUEUED:
            self._spawn_delivery(tenant_id, UUID(event.payload["outbound_id"]))

    # Scheduling ---------------------------------------------------------------------------

    async def schedule(self, tenant_id: TenantId, thread_id: UUID, delay_s: float) -> None:
        member = f"{tenant_id}:{thread_id}"
        # LT: an earlier due time wins; a later one never postpones a due thread.
        await self._redis.zadd(DUE_KEY, {member: time.time() + max(0.0, delay_s)}, lt=True)

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_delivery(self, tenant_id: TenantId, outbound_id: UUID) -> None:
        if outbound_id in self._delivering:
            return
        self._delivering.add(outbound_id)

        async def run() -> None:
            try:
                await deliver(self._pool, tenant_id, outbound_id, self._connectors, self._box, self.config.policy)
            except Exception:
                log.exception("outbound delivery crashed", extra={"outbound_id": str(outbound_id)})
            finally:
                self._delivering.discard(outbound_id)

        self._spawn(run(), f"deliver-{outbound_id}")

    async def tick(self) -> int:
        """Start the turns that are due now; returns how many threads were taken."""
        due = await self._redis.zrangebyscore(DUE_KEY, "-inf", time.time(), start=0, num=200)
        taken = 0
        for raw in due:
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            if not await self._redis.zrem(DUE_KEY, member):
                continue  # another scheduler took it
            tenant_s, _, thread_s = member.partition(":")
            key = (UUID(tenant_s), UUID(thread_s))
            if key in self._turning:
                await self.schedule(TenantId(key[0]), key[1], self.config.tick_s)
                continue
            self._turning.add(key)
            taken += 1
            self._spawn(self._turn(TenantId(key[0]), key[1]), f"turn-{thread_s}")
        return taken

    async def _turn(self, tenant_id: TenantId, thread_id: UUID) -> None:
        try:
            async with tenant_tx(self._pool, tenant_id) as conn:
                claim = await claim_turn(
                    conn, tenant_id, thread_id, quiet_s=self.config.quiet_s, max_wait_s=self.config.max_wait_s
                )
            if claim.due_at is not None:
                await self.schedule(tenant_id, thread_id, claim.due_at.timestamp() - time.time())
                return
            if claim.turn is None:
                return
            self.turns += 1
            try:
                outcome = await self._agents.answer(tenant_id, claim.turn)
            except Exception:
                log.exception("Luddy run failed for an inbox turn", extra={"thread_id": str(thread_id)})
                outcome = RunOutcome("failed", None)
            await self._finish(tenant_id, claim.turn, outcome)
        except Exception:
            log.exception("inbox turn failed; retried later", extra={"thread_id": str(thread_id)})
            with contextlib.suppress(RedisError, OSError):
                await self.schedule(tenant_id, thread_id, max(1.0, self.config.quiet_s))
        finally:
            self._turning.discard((tenant_id, thread_id))

    async def _rejoin(self, tenant_id: TenantId, turn: Turn) -> None:
        try:
            try:
                outcome = await self._agents.answer(tenant_id, turn)
            except Exception:
                log.exception("rejoining an inbox turn failed", extra={"run_id": str(turn.run_id)})
                outcome = RunOutcome("failed", None)
            await self._finish(tenant_id, turn, outcome)
        finally:
            self._turning.discard((tenant_id, turn.thread_id))

    async def _finish(self, tenant_id: TenantId, turn: Turn, outcome: RunOutcome) -> None:
        async with tenant_tx(self._pool, tenant_id) as conn:
            _, next_due = await finish_turn(conn, tenant_id, turn, status=outcome.status, output=outcome.output)
        if next_due is not None:
            delay = self.config.quiet_s if outcome.status == "completed" else max(1.0, self.config.quiet_s)
            await self.schedule(tenant_id, turn.thread_id, delay)

    # Lifecycle ----------------------------------------------------------------------------

    async def recover(self) -> dict[str, int]:
        """Re-read what a previous incarnation left (each tenant with work, one transaction each)."""
        report = {"threads": 0, "turns": 0, "outbound": 0}
        ids = await _tenants_with_work(self._pool)
        for tenant_id in ids:
            async with tenant_tx(self._pool, tenant_id) as conn:
                stale = await stale_turns(conn, tenant_id)
                threads = await pending_threads(conn, tenant_id)
                outbound = await due_outbound(conn, tenant_id)
            for s in stale:
                turn = stale_turn(s)
                key = (tenant_id, s["thread_id"])
                if key in self._turning:
                    continue
                report["turns"] += 1
                never_started = s["run_status"] is None and bool(turn.message_ids) and s["thread_status"] == "bot"
                if s["run_status"] == "running" or never_started:
                    # running: join the run (same run id: start_run never starts a second
                    # one); an agent that lost it marks it interrupted on activation and the
                    # turn is requeued. No run yet: the worker died between claim_turn and
                    # start_run; start it now as claimed (same run id, same messages), so
                    # the claimed turn is answered on its own and a start_run still on its
                    # way from the dead worker is this run, not a second one (unless a person
                    # took the thread meanwhile: then its messages wait, as claim_turn would).
                    self._turning.add(key)
                    self._spawn(self._rejoin(tenant_id, turn), f"rejoin-{turn.run_id}")
                else:
                    await self._finish(tenant_id, turn, await self._agents.outcome(tenant_id, turn))
            for thread_id in threads:
                await self.schedule(tenant_id, thread_id, 0)
                report["threads"] += 1
            for outbound_id in outbound:
                self._spawn_delivery(tenant_id, outbound_id)
                report["outbound"] += 1
        return report

    async def sweep(self) -> int:
        """Schedule every tenant's threads with pending messages again: the due set lives in
        Redis, and a Redis that lost it (restart without persistence) must not strand them."""
        ids = await _tenants_with_work(self._pool)
        found = 0
        for tenant_id in ids:
            async with tenant_tx(self._pool, tenant_id) as conn:
                threads = await pending_threads(conn, tenant_id)
            for thread_id in threads:
                if (tenant_id, thread_id) not in self._turning:
                    await self.schedule(tenant_id, thread_id, self.config.quiet_s)
                    found += 1
        return found

    async def _scheduler(self, stop: asyncio.Event) -> None:
        last_sweep = time.monotonic()
        while not stop.is_set():
            raise_if_cancelled()  # a cancel a library swallowed (or turned into a TimeoutError) still ends it
            try:
                if time.monotonic() - last_sweep > self.config.sweep_s:
                    last_sweep = time.monotonic()
                    await self.sweep()
                await self.tick()
            except (RedisError, OSError, asyncpg.PostgresError) as exc:
                log.warning("inbox scheduler cannot reach Redis or Postgres; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
            await wait_event(stop, self.config.tick_s)  # not wait_for: it can swallow a cancel

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.consumer.ensure_group()
        try:
            log.info("inbox worker recovered", extra=await self.recover())
        except (RedisError, OSError, asyncpg.PostgresError) as exc:
            log.warning("inbox recovery failed; continuing", extra={"error": str(exc)})
        scheduler = asyncio.create_task(self._scheduler(stop), name="inbox-scheduler")
        try:
            await self.consumer.run_forever(stop)
        finally:
            # Bounded: a turn or delivery that swallowed its cancel is logged, not waited on forever.
            await cancel_and_wait([scheduler, *self._tasks], self.config.stop_timeout_s, "inbox worker")

    def stats(self) -> dict[str, int]:
        return {"handled": self.handled, "turns": self.turns, "in_flight": len(self._tasks)}


__all__ = ["DUE_KEY", "EVENT_TYPES", "GROUP", "AgentPort", "InboxConfig", "InboxWorker", "RunOutcome"]
