"""Insights sync on demand (admin): ``POST /admin/ads/sync`` runs ``tools.ads.sync`` for the
tenant now and returns the runs; ``GET /admin/ads/sync/runs`` lists recent runs. The
scheduled sync is the ``AdsSync`` deployment (``serve.ads.sync_runtime``). A platform failure
(expired token, throttling, a refused request) is a ``failed`` run with its ``error``,
answered 200 — the request itself worked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from db.pool import tenant_tx
from tools.ads.errors import AdAccountNotConfigured
from tools.ads.sync import MAX_BACKFILL_DAYS, SyncOptions, list_runs, sync_tenant

from ..ads.wiring import ads_deps
from ..deps import AdminTenant, State

router = APIRouter(tags=["ads"])


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: UUID | None = Field(None, description="one account; default every active account")
    days: int = Field(3, ge=1, le=30, description="rolling window: the last N days (account time zone)")
    backfill_days: int = Field(0, ge=0, le=MAX_BACKFILL_DAYS, description="extra days further back")


class SyncRun(BaseModel):
    id: UUID
    account_id: UUID
    since: date
    until: date
    status: Literal["running", "done", "failed"]
    rows: int = Field(description="metric rows written (campaign and ad level, one per object and day)")
    proposals: int = Field(description="changes the rules proposed after this sync")
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class SyncRuns(BaseModel):
    runs: list[SyncRun]


@router.post("/admin/ads/sync", response_model=SyncRuns, tags=["admin"])
async def sync_now(request: Request, state: State, ctx: AdminTenant, body: SyncIn | None = None) -> dict[str, Any]:
    """Sync the tenant's ad insights now (every active account, or ``account_id``): daily
    campaign and ad rows into ``ad_metrics_daily`` (re-syncing overwrites, never double
    counts), campaign status/budget refreshed, then the rules evaluated."""
    body = body or SyncIn()
    deps = ads_deps(request, state)
    runs = await sync_tenant(
        state.pool,
        ctx.tenant_id,
        deps,
        account_id=body.account_id,
        options=SyncOptions(days=body.days, backfill_days=body.backfill_days),
    )
    if not runs:
        raise AdAccountNotConfigured(
            "no active ad account to sync: provision one with POST /admin/ads/accounts",
            details={"account_id": str(body.account_id) if body.account_id else None},
        )
    return {"runs": runs}


@router.get("/admin/ads/sync/runs", response_model=SyncRuns, tags=["admin"])
async def sync_runs(state: State, ctx: AdminTenant, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    """The most recent insights sync runs (scheduled and on demand)."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"runs": await list_runs(conn, ctx.tenant_id, limit)}


__all__ = ["router"]
