"""The inbox for staff: conversations, handoff, replies through the channel, notes; and the
admin route that provisions channel accounts. Thin: each route calls ``tools.inbox``."""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request

from core.errors import Forbidden, NotFound
from core.tenancy import TenantContext
from db.pool import tenant_tx
from tools import inbox
from tools.channels import ConnectorRegistry
from tools.inbox import handoff, views

from ..deps import AdminTenant, State, Tenant
from ..inbox.schemas import (
    AccountIn,
    AccountList,
    AccountOut,
    Conversation,
    ConversationPage,
    Note,
    NoteIn,
    NoteList,
    ReasonIn,
    ReplyIn,
    ReplyOut,
    StatusChange,
    ThreadStatus,
)
from ..schemas import Channel
from . import channels

router = APIRouter(tags=["inbox"])


def _staff(ctx: TenantContext) -> str:
    if ctx.role == "viewer":
        raise Forbidden("viewers cannot change conversations", details={"role": ctx.role})
    return ctx.principal.user_id


@router.get("/inbox/conversations", response_model=ConversationPage)
async def list_conversations(
    state: State,
    ctx: Tenant,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: ThreadStatus | None = None,
    channel: Channel | None = None,
    assignee: Annotated[str | None, Query(max_length=200)] = None,
    unread: bool | None = None,
) -> dict[str, object]:
    """Conversations by latest activity, with unread count and last message; ``status=pending_human``
    is the handoff queue."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await views.conversations(
            conn,
            ctx.tenant_id,
            limit=limit,
            cursor=cursor,
            status=status,
            channel=channel,
            assignee=assignee,
            unread=unread,
        )


@router.get("/inbox/conversations/{thread_id}", response_model=Conversation)
async def get_conversation(thread_id: UUID, state: State, ctx: Tenant) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        found = await views.conversation(conn, ctx.tenant_id, thread_id)
    if found is None:
        raise NotFound("thread not found", details={"id": str(thread_id)})
    return found


async def _change(
    state: State, ctx: TenantContext, thread_id: UUID, to: str, reason: str | None, *, assign: bool = False
) -> dict[str, object]:
    user = _staff(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await handoff.change_status(
            conn, ctx.tenant_id, thread_id, to, actor=f"user:{user}", reason=reason, assignee=user if assign else None
        )


@router.post("/inbox/conversations/{thread_id}/take", response_model=StatusChange)
async def take(thread_id: UUID, state: State, ctx: Tenant, body: ReasonIn | None = None) -> dict[str, object]:
    """A person takes the conversation (status human, assignee = caller): Luddy stays silent."""
    return await _change(state, ctx, thread_id, "human", body.reason if body else None, assign=True)


@router.post("/inbox/conversations/{thread_id}/handoff", response_model=StatusChange)
async def request_handoff(
    thread_id: UUID, state: State, ctx: Tenant, body: ReasonIn | None = None
) -> dict[str, object]:
    """Put the conversation in the human queue (pending_human)."""
    return await _change(state, ctx, thread_id, "pending_human", body.reason if body else "staff")


@router.post("/inbox/conversations/{thread_id}/release", response_model=StatusChange)
async def hand_back(thread_id: UUID, state: State, ctx: Tenant, body: ReasonIn | None = None) -> dict[str, object]:
    """Hand the conversation back to Luddy (status bot); Luddy answers the next message."""
    return await _change(state, ctx, thread_id, "bot", body.reason if body else None)


@router.post("/inbox/conversations/{thread_id}/close", response_model=StatusChange)
async def close(thread_id: UUID, state: State, ctx: Tenant, body: ReasonIn | None = None) -> dict[str, object]:
    return await _change(state, ctx, thread_id, "closed", body.reason if body else None)


@router.post("/inbox/conversations/{thread_id}/read", status_code=204)
async def mark_read(thread_id: UUID, state: State, ctx: Tenant) -> None:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        await handoff.mark_read(conn, ctx.tenant_id, thread_id)


@router.post(
    "/inbox/conversations/{thread_id}/reply",
    response_model=ReplyOut,
    status_code=202,
    responses={
        409: {"description": "not taken, or outside the reply window (code outside_reply_window: use a template)"},
        413: {"description": "media over the channel's limit (code media_too_large)"},
    },
)
async def reply(
    thread_id: UUID,
    body: ReplyIn,
    request: Request,
    state: State,
    ctx: Tenant,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, object]:
    """Reply through the conversation's channel (accepted: sent asynchronously, its status
    appears on the message). The same Idempotency-Key never sends twice."""
    user = _staff(ctx)
    connectors: ConnectorRegistry = request.app.state.inbox_connectors
    part = body.part()
    key = (idempotency_key or "").strip() or uuid.uuid4().hex
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await handoff.staff_reply(
            conn, ctx.tenant_id, thread_id, user=user, part=part, key=key, connectors=connectors
        )


@router.get("/inbox/conversations/{thread_id}/notes", response_model=NoteList)
async def list_notes(thread_id: UUID, state: State, ctx: Tenant) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"items": await handoff.list_notes(conn, ctx.tenant_id, thread_id)}


@router.post("/inbox/conversations/{thread_id}/notes", response_model=Note, status_code=201)
async def add_note(thread_id: UUID, body: NoteIn, state: State, ctx: Tenant) -> dict[str, object]:
    """A private note for staff: never sent to the customer, never in Luddy's memory."""
    user = _staff(ctx)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await handoff.add_note(conn, ctx.tenant_id, thread_id, author=user, body=body.body)


@router.post("/admin/channels/accounts", response_model=AccountOut, tags=["admin"])
async def provision_account(body: AccountIn, request: Request, state: State, ctx: AdminTenant) -> dict[str, object]:
    """Create or update a channel account (same provider + external id updates; secrets not
    given are kept). Secrets are encrypted at rest; the response shows hints only."""
    box: inbox.SecretBox = request.app.state.inbox_box
    # Instagram, e-mail and web chat specifics (serve/routers/channels.py).
    external_id, account_secrets = channels.prepare_account(
        ctx.tenant_id, body.channel, body.provider, body.external_id, body.secrets
    )
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        out = await inbox.provision(
            conn,
            ctx.tenant_id,
            box,
            channel=body.channel,
            provider=body.provider,
            external_id=external_id,
            name=body.name,
            base_url=body.base_url,
            config=body.config,
            secrets=account_secrets,
        )
    if (hook := channels.webhook_url(request, body.channel, ctx.tenant_id)) is not None:
        out["webhook_url"] = hook
    return out


@router.get("/admin/channels/accounts", response_model=AccountList, tags=["admin"])
async def list_accounts(state: State, ctx: AdminTenant, channel: Channel | None = None) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"items": await inbox.list_accounts(conn, ctx.tenant_id, channel)}
