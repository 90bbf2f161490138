"""Clio's creatives as people review them: list, read with versions, approve or reject.

Clio stores copy variants as versions ``pending`` approval (``create_creative_variants``);
a member (not a viewer) decides each version here. See ``db.creatives`` for the rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from core.errors import Forbidden
from db import creatives
from db.pool import tenant_tx

from ..deps import State, Tenant
from ..schemas import Strict

router = APIRouter(prefix="/creatives", tags=["creatives"])


class CreativeVersion(BaseModel):
    id: UUID
    creative_id: UUID
    version: int
    headline: str
    body: str
    sources: list[dict[str, Any]]
    approval: Literal["pending", "approved", "rejected"]
    run_id: UUID | None
    created_at: datetime


class CreativeSummary(BaseModel):
    id: UUID
    name: str
    audience: str
    angle: str
    campaign: str | None
    deal_id: UUID | None
    status: Literal["active", "winner", "archived"]
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    versions: int
    pending: int
    approved: int


class CreativePage(BaseModel):
    items: list[CreativeSummary]
    next_cursor: str | None


class Creative(BaseModel):
    id: UUID
    name: str
    audience: str
    angle: str
    campaign: str | None
    deal_id: UUID | None
    status: Literal["active", "winner", "archived"]
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    versions: list[CreativeVersion]


class ApprovalIn(Strict):
    decision: Literal["approved", "rejected"]
    note: str | None = Field(None, max_length=1000)


@router.get("", response_model=CreativePage)
async def list_creatives(
    state: State,
    ctx: Tenant,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    campaign: Annotated[str | None, Query(max_length=200)] = None,
    status: Literal["active", "winner", "archived"] | None = None,
) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await creatives.list_creatives(
            conn, ctx.tenant_id, limit=limit, cursor=cursor, campaign=campaign, status=status
        )


@router.get("/{creative_id}", response_model=Creative)
async def get_creative(creative_id: UUID, state: State, ctx: Tenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await creatives.get_creative(conn, ctx.tenant_id, creative_id)


@router.post("/{creative_id}/versions/{version}/approval", response_model=CreativeVersion)
async def decide(
    creative_id: UUID,
    version: Annotated[int, Path(ge=1, le=100_000)],
    body: ApprovalIn,
    state: State,
    ctx: Tenant,
) -> dict[str, Any]:
    """Approve or reject a version, once (the same decision again is a no-op; the other is 409)."""
    if ctx.read_only:
        raise Forbidden("read-only roles (viewer, auditor) cannot approve creatives", details={"role": ctx.role})
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await creatives.decide_version(
            conn, ctx.tenant_id, creative_id, version, body.decision, by=ctx.principal.user_id, note=body.note
        )
