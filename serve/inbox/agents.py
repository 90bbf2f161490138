"""``RuntimeAgents``: the inbox's ``AgentPort`` over the agent runtime (Ray actors or local).

A turn is one Luddy run with the turn's run id (so a retried start joins the same run),
the merged text as input and ``inbox_turn`` in the context (the host then neither writes
the inbound messages again nor counts them as history)."""

from __future__ import annotations

import asyncpg

from actors.host import AgentRuntime
from actors.memory import get_run
from actors.schemas import RunRequest
from core.errors import NotFound
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.inbox.turns import Turn
from tools.inbox.worker import RunOutcome


class RuntimeAgents:
    def __init__(self, runtime: AgentRuntime, pool: asyncpg.Pool) -> None:
        self._runtime = runtime
        self._pool = pool

    async def answer(self, tenant_id: TenantId, turn: Turn) -> RunOutcome:
        request = RunRequest(
            run_id=turn.run_id,
            tenant_id=tenant_id,
            agent="luddy",
            input=turn.text,
            thread_id=turn.thread_id,
            principal=f"contact:{turn.contact}",
            context={"inbox_turn": True, "channel": turn.channel, "source": turn.channel},
        )
        await self._runtime.call(tenant_id, "luddy", "start_run", request)
        await self._runtime.call(tenant_id, "luddy", "wait_run", turn.run_id)
        return await self.outcome(tenant_id, turn)

    async def outcome(self, tenant_id: TenantId, turn: Turn) -> RunOutcome:
        """The recorded result of the turn's run (``unknown`` when it never started)."""
        async with tenant_tx(self._pool, tenant_id) as conn:
            try:
                run = await get_run(conn, tenant_id, turn.run_id)
            except NotFound:
                return RunOutcome("unknown", None)
        return RunOutcome(str(run["status"]), run.get("output"))


__all__ = ["RuntimeAgents"]
