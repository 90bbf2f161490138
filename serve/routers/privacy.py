"""LGPD data-subject requests (admin/owner only): export or erase one person's data.

The route validates and normalises the identifiers (422 on junk), records the request with
its audit row and event in one transaction (``Idempotency-Key`` required), answers 202 and
dispatches the work (``serve.privacy``). Progress and the result: ``GET /privacy/requests/{id}``.
The identifiers are never echoed back nor kept after the request finishes. See docs/privacy.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from db.pool import tenant_tx
from tools.privacy import Subject, subject_hash_key, submit
from tools.privacy import store as privacy_store

from ..deps import AdminTenant, Idempotent, State
from ..privacy import dispatch_request
from ..privacy.runtime import REDISPATCH_AFTER_S
from ..schemas import Strict

router = APIRouter(prefix="/privacy", tags=["privacy"])


class SubjectIn(Strict):
    email: str | None = Field(None, max_length=320, description="lower-cased before matching")
    phone: str | None = Field(None, max_length=40, description="any punctuation; Brazilian (+55) when no + is given")
    cpf: str | None = Field(None, max_length=18, description="11 digits or 000.000.000-00; check digits verified")


class PrivacyRequestIn(Strict):
    kind: Literal["export", "erase"] = Field(description="export: the subject's data as JSON; erase: delete/anonymise")
    subject: SubjectIn


class Progress(BaseModel):
    done: int
    total: int
    step: str | None = None


class PrivacyRequestOut(BaseModel):
    id: UUID
    kind: str
    status: str = Field(description="queued | running | done | failed")
    identifier_kinds: list[str]
    requested_by: str
    progress: Progress
    result: dict[str, Any] | None = Field(
        None, description="export: the bundle (tables → rows); erase: per table what was done and why"
    )
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class PrivacyRequestList(BaseModel):
    items: list[PrivacyRequestOut]


@router.post("/requests", response_model=PrivacyRequestOut, status_code=202)
async def create_request(
    body: PrivacyRequestIn, request: Request, state: State, ctx: AdminTenant, call: Idempotent
) -> Response:
    """Queue an export or an erase of one data subject (LGPD Art. 18), identified by any of
    e-mail, phone, CPF. Re-sending the same Idempotency-Key replays the first answer."""
    subject = Subject.parse(body.subject.email, body.subject.phone, body.subject.cpf)
    key = subject_hash_key(state.settings)

    async def handler(conn: asyncpg.Connection) -> dict[str, Any]:
        return await submit(
            conn, ctx.tenant_id, kind=body.kind, subject=subject, requested_by=ctx.principal.user_id, hash_key=key
        )

    response = await call.respond(202, handler)
    out = PrivacyRequestOut.model_validate_json(bytes(response.body))
    if response.headers.get("Idempotent-Replayed") == "true":
        async with tenant_tx(state.pool, ctx.tenant_id) as conn:
            status = await privacy_store.status_of(conn, ctx.tenant_id, out.id)
        if status != "queued":  # running, finished, or an export bundle since deleted by an erase
            return response
    dispatch_request(request, state, ctx.tenant_id, out.id)  # a replay re-dispatches a request still queued
    return response


@router.get("/requests/{request_id}", response_model=PrivacyRequestOut)
async def get_request(request_id: UUID, request: Request, state: State, ctx: AdminTenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        row = await privacy_store.get_request(conn, ctx.tenant_id, request_id)
    if row["status"] == "queued" and (datetime.now(UTC) - row["updated_at"]).total_seconds() > REDISPATCH_AFTER_S:
        dispatch_request(request, state, ctx.tenant_id, request_id)  # its dispatch was lost (gateway crash)
    return row


@router.get("/requests", response_model=PrivacyRequestList)
async def list_requests(
    state: State, ctx: AdminTenant, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, Any]:
    """The tenant's requests, newest first (without results)."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"items": await privacy_store.list_requests(conn, ctx.tenant_id, limit)}
