"""Reactions to business events: the agents' consumer group on the event stream.

On ``deal.won`` every agent of the tenant gets an ``event`` message through the runtime:
Luddy follows up with the customer, Lucy records the conversion against the lead's
source/campaign, Clio marks the creative linked to the deal as a winner. Delivery is
at-least-once (``db.bus.StreamConsumer``); each reaction is idempotent by event id (an
``agent_messages`` row per agent and event, and idempotency-keyed tools), and the entry is
acknowledged only after all three succeeded.
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
EVENT_TYPES = frozenset({"deal.won"})


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
            for agent in AGENT_NAMES
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


__all__ = ["EVENT_TYPES", "GROUP", "AgentDispatcher"]
