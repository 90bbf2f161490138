"""Audit routes (auditor, admin or owner): masked conversation replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from actors.replay import thread_replay
from db.pool import tenant_tx

from ..deps import AuditTenant, State

router = APIRouter(prefix="/audit", tags=["audit"])


class ReplayThread(BaseModel):
    id: UUID
    lead_id: UUID | None
    channel: str
    status: str
    created_at: datetime


class ReplayMessage(BaseModel):
    id: UUID
    direction: str
    sender: str
    body: str
    agent: str | None
    run_id: str | None
    created_at: datetime


class ReplayInvocation(BaseModel):
    id: UUID
    tool: str
    args: dict[str, Any]
    result: Any
    created_at: datetime


class ReplayUsage(BaseModel):
    tokens_in: int
    tokens_out: int


class ReplayRun(BaseModel):
    id: UUID
    agent: str
    status: str
    model: str | None
    input: str
    output: str | None
    error: str | None
    tool_calls: list[dict[str, Any]] = Field(description="calls as the model made them, with results")
    tool_invocations: list[ReplayInvocation] = Field(description="the side-effect ledger rows of this run")
    sources: list[dict[str, Any]]
    usage: ReplayUsage
    cost_usd: float
    price_version: str | None
    latency_ms: int | None
    prompt_version_id: UUID | None
    ab_bucket: str | None
    created_at: datetime
    finished_at: datetime | None


class Replay(BaseModel):
    thread: ReplayThread
    messages: list[ReplayMessage]
    runs: list[ReplayRun]
    masked: dict[str, int] = Field(description="how many values of each PII kind were masked")


@router.get("/threads/{thread_id}/replay", response_model=Replay)
async def replay_thread(thread_id: UUID, state: State, ctx: AuditTenant) -> dict[str, Any]:
    """A conversation with its runs, tool calls and sources, with CPF, CNPJ, phones, e-mails
    and card numbers masked. Each replay is recorded in the audit log."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await thread_replay(conn, ctx.tenant_id, thread_id, actor=ctx.principal.user_id, role=ctx.role)
