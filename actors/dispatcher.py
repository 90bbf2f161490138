"""Reactions to business events: the agents' consumer group on the event stream.

``ROUTES`` says which agents of the tenant get an ``event`` message through the runtime:

* ``deal.won`` → all three: Luddy follows up with the customer, Lucy records the
  conversion against the lead's source/campaign, Clio marks the creative linked to the
  deal as a winner;
* ``payment.overdue`` (published by the payments reconciler when the tenant's dunning
  policy has ``follow_up``) → Luddy, who writes to the lead's conversation with the amount,
  due date and payment link from the event (not on a thread handed over to a human).

Delivery is at-least-once (``db.bus.StreamConsumer``); each reaction is idempotent by event
id (an ``agent_messages`` row per agent and event, and idempotency-keyed tools), and the
entry is acknowledged only after every routed agent succeeded.
"""

from __future__ import annotations

import asyncio

import asyncpg
import redis.asyncio as redis

from core.events import Event
from db.bus import StreamConsumer

from .host import AgentRuntime
from .schemas import AGENT_NAMES, AgentMessage

GROUP = "agents"
ROUTES: dict[str, tuple[str, ...]] = {
    "deal.won": AGENT_NAMES,
    "payment.overdue": ("luddy",),
}
EVENT_TYPES = frozenset(ROUTES)


class AgentDispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        stream: str,
        runtime: AgentRuntime,
        *,
        name: str = "dispatcher-1",
        min_idle_ms: int = 30_000,
        block_ms: int = 1000,
    ):
        self._runtime = runtime
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

    async def handle(self, _conn: asyncpg.Connection, event: Event) -> None:
        messages = [
            AgentMessage(
                tenant_id=event.tenant_id,
                from_agent="dispatcher",
                to_agent=agent,
                kind="event",
                body={"type": event.type, "payload": event.payload},
                event_id=event.id,
            )
            for agent in ROUTES.get(event.type, ())
        ]
        results = await asyncio.gather(
            *(self._runtime.call(event.tenant_id, m.to_agent, "handle_message", m) for m in messages),
            return_exceptions=True,
        )
        for r in results:
            if isinstance(r, BaseException):
                raise r  # not acked: retried, and the reactions that succeeded replay as no-ops

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.consumer.run_forever(stop)


__all__ = ["EVENT_TYPES", "GROUP", "ROUTES", "AgentDispatcher"]
