"""Per-tenant monthly AI budgets (UTC calendar months).

- ``gate`` runs when a run starts: under budget, the run keeps its model; at or over 100 %
  it is refused with ``BudgetExceeded`` (HTTP 402, code ``ai_budget_exceeded``), or moved to
  the offline model when the tenant chose ``on_exceed = 'offline'``. Offline runs cost
  nothing and are never refused.
- ``settle`` runs in the transaction that records a finished run: it stores the price
  version and, the first time this month's spend reaches 80 % of the limit, writes one
  ``ai.budget.threshold_reached`` event to the outbox (a conditional update on
  ``ai_budgets.warned_month`` makes it once per month, also under concurrent runs).

A run in flight when the limit is crossed finishes: the gate is at the start, so the
overshoot is at most the runs already running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import BudgetExceeded
from core.tenancy import TenantId
from db.events import emit

from ..offline_model import MODEL_NAME as OFFLINE_MODEL
from .pricing import Priced

WARN_RATIO = 0.8
THRESHOLD_EVENT = "ai.budget.threshold_reached"


@dataclass(frozen=True, slots=True)
class Budget:
    monthly_limit_usd: float
    on_exceed: str
    month: date
    spent_usd: float
    warned: bool

    @property
    def ratio(self) -> float:
        if self.monthly_limit_usd <= 0:
            return 1.0 if self.spent_usd > 0 else 0.0
        return self.spent_usd / self.monthly_limit_usd

    def as_api(self) -> dict[str, Any]:
        return {
            "monthly_limit_usd": self.monthly_limit_usd,
            "on_exceed": self.on_exceed,
            "month": self.month,
            "spent_usd": round(self.spent_usd, 6),
            "used_ratio": round(self.ratio, 4),
            "warned_at_80": self.warned,
        }


def month_start(now: datetime | None = None) -> datetime:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


_SPENT = "(select coalesce(sum(cost), 0) from agent_runs where tenant_id = $1 and created_at >= $2)"


async def month_spend(conn: asyncpg.Connection, tenant_id: TenantId) -> float:
    """This UTC month's AI spend of the tenant, in USD."""
    return float(await conn.fetchval(f"select {_SPENT}", tenant_id, month_start()))


async def get_budget(conn: asyncpg.Connection, tenant_id: TenantId) -> Budget | None:
    start = month_start()
    row = await conn.fetchrow(
        f"""select monthly_limit_usd, on_exceed, warned_month, {_SPENT} as spent
            from ai_budgets where tenant_id = $1""",
        tenant_id,
        start,
    )
    if row is None:
        return None
    return Budget(
        float(row["monthly_limit_usd"]),
        row["on_exceed"],
        start.date(),
        float(row["spent"]),
        row["warned_month"] == start.date(),
    )


async def set_budget(
    conn: asyncpg.Connection, tenant_id: TenantId, monthly_limit_usd: float, on_exceed: str, by: str
) -> Budget:
    await conn.execute(
        """insert into ai_budgets (tenant_id, monthly_limit_usd, on_exceed, updated_by)
           values ($1, $2, $3, $4)
           on conflict (tenant_id) do update set monthly_limit_usd = excluded.monthly_limit_usd,
               on_exceed = excluded.on_exceed, updated_by = excluded.updated_by, updated_at = now(),
               -- a new limit re-arms this month's 80 % event; changing only on_exceed does not
               warned_month = case when ai_budgets.monthly_limit_usd = excluded.monthly_limit_usd
                                   then ai_budgets.warned_month end""",
        tenant_id,
        monthly_limit_usd,
        on_exceed,
        by,
    )
    await conn.execute(
        """insert into audit_logs (tenant_id, actor, action, target, meta)
           values ($1, $2, 'ai_budget.set', 'ai_budgets', $3)""",
        tenant_id,
        by,
        {"monthly_limit_usd": monthly_limit_usd, "on_exceed": on_exceed},
    )
    budget = await get_budget(conn, tenant_id)
    assert budget is not None
    return budget


async def gate(conn: asyncpg.Connection, tenant_id: TenantId, model_name: str) -> str:
    """The model this run may use, or ``BudgetExceeded`` when the month's budget is spent."""
    if model_name == OFFLINE_MODEL:
        return model_name
    budget = await get_budget(conn, tenant_id)
    if budget is None or budget.spent_usd < budget.monthly_limit_usd:
        return model_name
    if budget.on_exceed == "offline":
        return OFFLINE_MODEL
    raise BudgetExceeded(
        "this tenant's monthly AI budget is spent: raise it (PUT /admin/ai-budget) or choose the offline fallback",
        details={
            "month": budget.month.isoformat(),
            "monthly_limit_usd": budget.monthly_limit_usd,
            "spent_usd": round(budget.spent_usd, 6),
        },
    )


async def settle(conn: asyncpg.Connection, tenant_id: TenantId, run_id: UUID, priced: Priced) -> None:
    """Store the price version of a paid run; emit the 80 % event once per month.

    Free runs (the offline model, zero tokens) cost no statement: their price_version stays
    null and they cannot move a budget."""
    if priced.cost_usd <= 0:
        return
    await conn.execute(
        "update agent_runs set price_version = $3 where tenant_id = $1 and id = $2",
        tenant_id,
        run_id,
        priced.price_version,
    )
    start = month_start()
    row = await conn.fetchrow(
        f"""update ai_budgets set warned_month = $3
            where tenant_id = $1 and warned_month is distinct from $3 and monthly_limit_usd > 0
              and {_SPENT} >= $4 * monthly_limit_usd
            returning monthly_limit_usd, {_SPENT} as spent""",
        tenant_id,
        start,
        start.date(),
        WARN_RATIO,
    )
    if row is not None:
        await emit(
            conn,
            tenant_id,
            THRESHOLD_EVENT,
            {
                "month": start.date().isoformat(),
                "threshold": WARN_RATIO,
                "monthly_limit_usd": float(row["monthly_limit_usd"]),
                "spent_usd": round(float(row["spent"]), 6),
                "run_id": str(run_id),
            },
        )


__all__ = [
    "THRESHOLD_EVENT",
    "WARN_RATIO",
    "Budget",
    "gate",
    "get_budget",
    "month_spend",
    "month_start",
    "set_budget",
    "settle",
]
