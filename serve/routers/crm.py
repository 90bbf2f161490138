"""CRM and inbox: leads, threads, messages, deals. All tenant-scoped."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from core.errors import Forbidden
from core.tenancy import TenantContext
from db import crm
from db.pool import tenant_tx
from tools.inbox.outbound import send_through_channel

from ..deps import Idempotent, State, Tenant
from ..schemas import (
    Channel,
    Deal,
    DealIn,
    DealPage,
    DealPatch,
    Lead,
    LeadIn,
    LeadPage,
    LeadPatch,
    Message,
    MessageIn,
    MessagePage,
    Thread,
    ThreadIn,
    ThreadPage,
)

router = APIRouter(tags=["crm"])

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]
_PATCH_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"description": "viewers cannot change CRM records"},
    404: {"description": "no such record in this tenant"},
    422: {"description": "unknown field, bad value, null for a required field, or nothing to change"},
}


def _require_writer(ctx: TenantContext) -> None:
    if ctx.read_only:  # viewers and auditors read; they never write
        raise Forbidden("read-only roles cannot change CRM records", details={"role": ctx.role})


@router.get("/leads", response_model=LeadPage)
async def list_leads(
    state: State,
    ctx: Tenant,
    limit: Limit = 50,
    cursor: Cursor = None,
    stage: Annotated[str | None, Query(max_length=40)] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="search name, e-mail, phone")] = None,
) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.list_leads(conn, ctx.tenant_id, limit=limit, cursor=cursor, stage=stage, source=source, q=q)


@router.post("/leads", response_model=Lead, status_code=201)
async def create_lead(body: LeadIn, ctx: Tenant, idem: Idempotent) -> object:
    _require_writer(ctx)
    return await idem.respond(201, lambda conn: crm.create_lead(conn, ctx.tenant_id, body.model_dump()))


@router.get("/leads/{lead_id}", response_model=Lead)
async def get_lead(lead_id: UUID, state: State, ctx: Tenant) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.get_lead(conn, ctx.tenant_id, lead_id)


@router.patch("/leads/{lead_id}", response_model=Lead, responses=_PATCH_ERRORS)
async def update_lead(lead_id: UUID, body: LeadPatch, state: State, ctx: Tenant) -> dict[str, object]:
    """Change a lead (absent fields stay; ``meta`` is merged). A stage change emits
    ``lead.stage_changed``, other changes ``lead.updated``; an unchanged value emits nothing."""
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.update_lead(conn, ctx.tenant_id, lead_id, body.model_dump(exclude_unset=True))


@router.get("/threads", response_model=ThreadPage)
async def list_threads(
    state: State,
    ctx: Tenant,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Channel | None = None,
    lead_id: UUID | None = None,
) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.list_threads(conn, ctx.tenant_id, limit=limit, cursor=cursor, channel=channel, lead_id=lead_id)


@router.post("/threads", response_model=Thread, status_code=201)
async def create_thread(body: ThreadIn, state: State, ctx: Tenant) -> dict[str, object]:
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.create_thread(conn, ctx.tenant_id, body.model_dump())


@router.get("/messages", response_model=MessagePage)
async def list_messages(
    state: State,
    ctx: Tenant,
    limit: Limit = 50,
    cursor: Cursor = None,
    channel: Channel | None = None,
    thread_id: UUID | None = None,
) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.list_messages(
            conn, ctx.tenant_id, limit=limit, cursor=cursor, thread_id=thread_id, channel=channel
        )


@router.post("/messages", response_model=Message, status_code=201)
async def create_message(body: MessageIn, state: State, ctx: Tenant) -> dict[str, object]:
    """Record a message; ``direction: out`` on a channel conversation also sends it through the
    channel (asynchronously: its ``status`` follows queued → sent → delivered → read or failed)."""
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        message = await crm.create_message(conn, ctx.tenant_id, body.model_dump())
        if await send_through_channel(conn, ctx.tenant_id, message) is not None:
            message["status"] = "queued"
        return message


@router.get("/deals", response_model=DealPage)
async def list_deals(
    state: State,
    ctx: Tenant,
    limit: Limit = 50,
    cursor: Cursor = None,
    stage: Annotated[str | None, Query(max_length=20)] = None,
    lead_id: UUID | None = None,
) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.list_deals(conn, ctx.tenant_id, limit=limit, cursor=cursor, stage=stage, lead_id=lead_id)


@router.post("/deals", response_model=Deal, status_code=201)
async def create_deal(body: DealIn, state: State, ctx: Tenant) -> dict[str, object]:
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.create_deal(conn, ctx.tenant_id, body.model_dump())


@router.get("/deals/{deal_id}", response_model=Deal, responses={404: {"description": "no such deal in this tenant"}})
async def get_deal(deal_id: UUID, state: State, ctx: Tenant) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.get_deal(conn, ctx.tenant_id, deal_id)


@router.patch(
    "/deals/{deal_id}",
    response_model=Deal,
    responses=_PATCH_ERRORS | {409: {"description": "a won deal is final; a lost deal must be reopened to be won"}},
)
async def update_deal(deal_id: UUID, body: DealPatch, state: State, ctx: Tenant) -> dict[str, object]:
    """Change a deal's title, value, meta or stage. ``stage: won`` is the same win as
    ``POST /deals/{id}/win`` (``deal.won`` once, the lead becomes a customer). Emits
    ``deal.stage_changed`` and/or ``deal.updated``."""
    _require_writer(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await crm.update_deal(conn, ctx.tenant_id, deal_id, body.model_dump(exclude_unset=True), source="api")


@router.post("/deals/{deal_id}/win", response_model=Deal)
async def win_deal(deal_id: UUID, ctx: Tenant, idem: Idempotent) -> object:
    _require_writer(ctx)
    return await idem.respond(200, lambda conn: crm.win_deal(conn, ctx.tenant_id, deal_id, source="api"))
