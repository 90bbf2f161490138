"""Ad KPIs of the tenant (``GET /metrics/kpi``): ad spend mixed with our leads, customers and
revenue, per source, campaign or creative (``tools.ads.kpi``). Any member can read them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from db.pool import tenant_tx
from tools.ads.kpi import KPI_TIMEZONE, MAX_RANGE_DAYS, GroupBy, kpi_report

from ..deps import State, Tenant

router = APIRouter(tags=["kpi"])


class KpiGroup(BaseModel):
    key: str | None = Field(
        description="platform (source), campaign external id or leads.campaign (campaign), creative version id "
        "(creative); null: unattributed (or the totals row)"
    )
    platform: str | None = Field(description="meta, google, tiktok; null for non-ad sources")
    label: str | None = Field(description="campaign name / creative name and version, when known")
    spend_minor: int = Field(description="ad spend, minor units (centavos)")
    impressions: int
    clicks: int
    platform_conversions: float = Field(description="conversions the ad platforms reported")
    leads: int = Field(description="leads created in the period")
    customers: int = Field(description="leads whose first paid payment or won deal is in the period")
    revenue_minor: int = Field(description="paid payments in the period, minor units")
    currency: str
    ctr: float | None = Field(description="clicks / impressions; null when 0 impressions")
    cpc_minor: int | None = Field(description="spend / clicks")
    cpm_minor: int | None = Field(description="spend per 1000 impressions")
    cpl_minor: int | None = Field(description="spend / leads")
    cpa_minor: int | None = Field(description="spend / platform conversions")
    cac_minor: int | None = Field(description="spend / customers")
    roas: float | None = Field(description="revenue / spend")
    conversion_rate: float | None = Field(description="customers / leads")


class KpiReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: GroupBy
    timezone: str
    currency: str
    groups: list[KpiGroup]
    totals: KpiGroup
    warnings: list[str]


@router.get("/metrics/kpi", response_model=KpiReport, response_model_by_alias=True)
async def metrics_kpi(
    state: State,
    ctx: Tenant,
    from_: Annotated[
        date | None, Query(alias="from", description=f"first day ({KPI_TIMEZONE}); default 29 days before 'to'")
    ] = None,
    to: Annotated[date | None, Query(description=f"last day ({KPI_TIMEZONE}), inclusive; default today")] = None,
    group_by: Annotated[GroupBy, Query(description="source, campaign or creative")] = "source",
) -> dict[str, Any]:
    """CTR, CPC, CPM, CPL, CPA, CAC, ROAS and conversion rate per source, campaign or creative,
    over whole days in America/Sao_Paulo (at most 366). Money in minor units; a ratio whose
    denominator is 0 is null. ``totals`` covers every group (ROAS there is blended)."""
    last = to or datetime.now(ZoneInfo(KPI_TIMEZONE)).date()
    first = from_ or last - timedelta(days=29)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await kpi_report(conn, ctx.tenant_id, first, last, group_by)


__all__ = ["MAX_RANGE_DAYS", "router"]
