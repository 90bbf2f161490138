"""AI cost per tenant per day (owner, admin, auditor) and the monthly AI budget (admin)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from actors.cost import daily_costs, get_budget, month_spend, month_start, set_budget
from core.errors import ValidationFailed
from core.tenancy import TenantContext
from db.pool import tenant_tx

from ..deps import AdminTenant, AuditTenant, State
from ..state import AppState

router = APIRouter(tags=["ai-cost"])

MAX_DAYS = 366


class CostDay(BaseModel):
    day: date
    runs: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    price_versions: list[str] = Field(description="price-table versions that priced these runs")


class CostReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    currency: Literal["USD"]
    days: list[CostDay]
    total_usd: float
    total_runs: int


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_limit_usd: float = Field(ge=0, le=1_000_000, description="USD per calendar month (UTC)")
    on_exceed: Literal["refuse", "offline"] = Field(
        "refuse", description="at 100 %: refuse runs (402) or run them on the offline model"
    )


class BudgetOut(BaseModel):
    monthly_limit_usd: float | None = Field(description="null: no budget set")
    on_exceed: Literal["refuse", "offline"] | None
    month: date
    spent_usd: float
    used_ratio: float | None
    warned_at_80: bool


@router.get("/metrics/ai-cost", response_model=CostReport, response_model_by_alias=True)
async def ai_cost(
    state: State,
    ctx: AuditTenant,
    from_: Annotated[date | None, Query(alias="from", description="first day (UTC), default 29 days ago")] = None,
    to: Annotated[date | None, Query(description="last day (UTC), inclusive; default today")] = None,
) -> dict[str, Any]:
    """Runs, tokens and AI cost of this tenant per day, priced from the versioned price table."""
    last = to or datetime.now(UTC).date()
    first = from_ or last - timedelta(days=29)
    if first > last or (last - first).days >= MAX_DAYS:
        raise ValidationFailed(
            f"'from' must be on or before 'to', and the range at most {MAX_DAYS} days",
            details=[{"loc": ["query", "from"], "msg": "bad date range"}],
        )
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await daily_costs(conn, ctx.tenant_id, first, last)


async def _budget_view(state: AppState, ctx: TenantContext) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        budget = await get_budget(conn, ctx.tenant_id)
        if budget is not None:
            return budget.as_api()
        spent = await month_spend(conn, ctx.tenant_id)
    return {
        "monthly_limit_usd": None,
        "on_exceed": None,
        "month": month_start().date(),
        "spent_usd": round(spent, 6),
        "used_ratio": None,
        "warned_at_80": False,
    }


@router.get("/admin/ai-budget", response_model=BudgetOut, tags=["admin"])
async def read_budget(state: State, ctx: AdminTenant) -> dict[str, Any]:
    """This month's AI budget and spend."""
    return await _budget_view(state, ctx)


@router.put("/admin/ai-budget", response_model=BudgetOut, tags=["admin"])
async def put_budget(body: BudgetIn, state: State, ctx: AdminTenant) -> dict[str, Any]:
    """Set the monthly AI budget. At 80 % an ``ai.budget.threshold_reached`` event is written
    (once per month); at 100 % runs are refused with 402 ``ai_budget_exceeded`` or, with
    ``on_exceed = offline``, run on the offline model."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        budget = await set_budget(conn, ctx.tenant_id, body.monthly_limit_usd, body.on_exceed, ctx.principal.user_id)
    return budget.as_api()
