"""The web chat widget's public API: no user JWT; a publishable key, a visitor token.

``POST /widget/{key}/sessions`` gives a browser an anonymous visitor token (and keeps the
page's UTM fields / ad click id for the lead's first touch);
``POST /widget/{key}/messages`` (``X-Visitor-Token``) puts its message into the inbox
through ``tools.inbox.accept`` (same dedupe, burst merge and handoff as every channel);
``GET /widget/{key}/stream?token=`` is the conversation as Server-Sent Events. CORS is per
tenant: only the origins in the widget account's ``allowed_origins`` get
``Access-Control-Allow-Origin``; others are refused with 403. Rate limits (Redis, shared by
replicas): sessions per key and IP, messages per visitor.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import NotFound, RateLimited, Unauthorized
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.ads.attribution import save_visitor_touch, take_visitor_touch
from tools.channels import AccountView, AdReferral, InboundBatch, webchat
from tools.channels.models import UTM_KEYS
from tools.channels.webchat.errors import OriginNotAllowed
from tools.inbox import accept, active_accounts

from ..deps import State
from ..state import AppState
from .channels import secret_box

router = APIRouter(tags=["widget"])
VISITOR_HEADER = "X-Visitor-Token"


_CLICK_ID = r"^[A-Za-z0-9_.:~=\-]{1,512}$"
_UTM = Field(None, max_length=500)


class SessionIn(BaseModel):
    """A new visitor. Pass the page's UTM fields and ad click id as found in its URL: they
    become the lead's first ad touch when the visitor writes (docs/ads.md "The loop")."""

    name: str | None = Field(None, max_length=200)
    utm_source: str | None = _UTM
    utm_medium: str | None = _UTM
    utm_campaign: str | None = _UTM
    utm_content: str | None = _UTM
    utm_term: str | None = _UTM
    fbclid: str | None = Field(None, pattern=_CLICK_ID)
    gclid: str | None = Field(None, pattern=_CLICK_ID)
    ttclid: str | None = Field(None, pattern=_CLICK_ID)
    wbraid: str | None = Field(None, pattern=_CLICK_ID)
    gbraid: str | None = Field(None, pattern=_CLICK_ID)
    landing_url: str | None = Field(None, max_length=2000)

    def touch(self) -> AdReferral | None:
        utm = {k: v for k in UTM_KEYS if (v := getattr(self, k))}
        kind = next((k for k in ("gclid", "fbclid", "ttclid", "wbraid", "gbraid") if getattr(self, k)), None)
        if not utm and kind is None:
            return None
        return AdReferral(
            source="widget",
            utm=utm,
            click_id_kind=kind,
            click_id=getattr(self, kind) if kind else None,
            source_url=self.landing_url,
        )


class SessionOut(BaseModel):
    visitor_token: str
    visitor_id: str
    expires_at: int


class WidgetMessageIn(BaseModel):
    client_message_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    text: str = Field(min_length=1, max_length=4000)
    name: str | None = Field(None, max_length=200)


class WidgetMessageOut(BaseModel):
    accepted: bool
    duplicate: bool


async def _widget(request: Request, state: AppState, key: str) -> tuple[TenantId, AccountView]:
    tenant_id = webchat.tenant_of_key(key)
    async with tenant_tx(state.pool, tenant_id) as conn:
        accounts = await active_accounts(conn, tenant_id, "chat", secret_box(request, state))
    account = next((a for a in accounts if a.external_id == key), None)
    if account is None:
        raise Unauthorized("unknown or inactive widget key")
    return tenant_id, account


def _cors(request: Request, account: AccountView) -> dict[str, str]:
    origin = request.headers.get("origin")
    allowed = [str(o) for o in account.config.get("allowed_origins", [])]
    if origin is None:
        return {}  # not a browser cross-origin call (server-side or same-origin tooling)
    if not webchat.origin_allowed(origin, allowed):
        raise OriginNotAllowed("this site may not use the widget key", details={"origin": origin})
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def _limit(state: AppState, bucket: str, limit: int, kind: str) -> None:
    decision = await state.limiter.hit(bucket, limit, kind)
    if decision is not None and not decision.allowed:
        raise RateLimited(
            f"rate limit of {limit} requests per {decision.window_s}s exceeded",
            details={"limit": limit, "window_s": decision.window_s, "retry_after_s": decision.reset_s},
            headers=decision.headers(),
        )


def _visitor(token: str | None, account: AccountView, tenant_id: TenantId) -> webchat.Visitor:
    if not token:
        raise Unauthorized("missing visitor token")
    visitor = webchat.verify_visitor_token(token, account.secret("visitor_secret"))
    if visitor.account_id != account.id or visitor.tenant_id != tenant_id:
        raise Unauthorized("the visitor token belongs to another widget")
    return visitor


@router.post("/widget/{key}/sessions", response_model=SessionOut, status_code=201)
async def start_session(key: str, body: SessionIn, request: Request, state: State) -> JSONResponse:
    """An anonymous visitor token for this browser (keep it in localStorage)."""
    tenant_id, account = await _widget(request, state, key)
    headers = _cors(request, account)
    ip = request.client.host if request.client else "unknown"
    await _limit(state, f"{key}:{ip}", state.settings.rate_limit_widget_sessions, "widget_session")
    token, visitor = webchat.issue_visitor_token(account.secret("visitor_secret"), tenant_id, account.id)
    touch = body.touch()
    if touch is not None:
        async with tenant_tx(state.pool, tenant_id) as conn:
            await save_visitor_touch(conn, tenant_id, account.id, visitor.visitor_id, touch)
    out = SessionOut(visitor_token=token, visitor_id=visitor.visitor_id, expires_at=visitor.expires_at)
    return JSONResponse(out.model_dump(), status_code=201, headers=headers)


@router.post("/widget/{key}/messages", response_model=WidgetMessageOut, status_code=202)
async def post_message(
    key: str,
    body: WidgetMessageIn,
    request: Request,
    state: State,
    x_visitor_token: Annotated[str | None, Header(description="from POST /widget/{key}/sessions")] = None,
) -> JSONResponse:
    """The visitor's message, stored durably before 202; the same ``client_message_id``
    again is a duplicate (no second message). Luddy's answer arrives on the stream."""
    tenant_id, account = await _widget(request, state, key)
    headers = _cors(request, account)
    visitor = _visitor(x_visitor_token, account, tenant_id)
    await _limit(state, visitor.visitor_id, state.settings.rate_limit_widget_messages, "widget_message")
    async with tenant_tx(state.pool, tenant_id) as conn:
        touch = await take_visitor_touch(conn, tenant_id, account.id, visitor.visitor_id)
        msg = webchat.inbound_message(key, visitor.visitor_id, body.client_message_id, body.text, body.name, touch)
        accepted = await accept(conn, tenant_id, InboundBatch(messages=(msg,)), [account])
    out = WidgetMessageOut(accepted=True, duplicate=accepted.duplicates > 0)
    return JSONResponse(out.model_dump(), status_code=202, headers=headers)


async def _conversation(
    state: AppState, tenant_id: TenantId, account_id: UUID, visitor_id: str, after: UUID | None, request: Request
) -> AsyncIterator[ServerSentEvent]:
    cursor: tuple[datetime, UUID] | None = None
    while not await request.is_disconnected():
        async with tenant_tx(state.pool, tenant_id, durable=False) as conn:
            if cursor is None and after is not None:
                at = await conn.fetchval(
                    "select created_at from messages where tenant_id = $1 and id = $2", tenant_id, after
                )
                cursor = (at, after) if at is not None else None
            rows = await conn.fetch(
                """select m.id, m.direction, m.body, m.created_at, m.status from messages m
                   join threads t on t.tenant_id = m.tenant_id and t.id = m.thread_id
                   where m.tenant_id = $1 and t.channel_account_id = $2 and t.external_id = $3
                     and ($4::timestamptz is null or (m.created_at, m.id) > ($4, $5::uuid))
                   order by m.created_at, m.id limit 100""",
                tenant_id,
                account_id,
                visitor_id,
                cursor[0] if cursor else None,
                cursor[1] if cursor else None,
            )
        for r in rows:
            cursor = (r["created_at"], r["id"])
            data: dict[str, Any] = {
                "id": str(r["id"]),
                "from": "visitor" if r["direction"] == "in" else "agent",
                "text": r["body"],
                "created_at": r["created_at"].isoformat(),
                "status": r["status"],
            }
            yield ServerSentEvent(data=json.dumps(data), event="message", id=str(r["id"]))
        if not rows:
            await asyncio.sleep(state.settings.widget_stream_poll_s)


@router.get("/widget/{key}/stream", response_class=EventSourceResponse)
async def stream(
    key: str,
    request: Request,
    state: State,
    token: Annotated[str | None, Query(max_length=600, description="visitor token (EventSource)")] = None,
    last_event_id: Annotated[str | None, Header(description="resume after this message id")] = None,
) -> EventSourceResponse:
    """The conversation as SSE ``message`` events (visitor's and Luddy's/staff's), from the
    start or after ``Last-Event-ID``; a keep-alive comment every 15 s."""
    tenant_id, account = await _widget(request, state, key)
    headers = _cors(request, account)
    visitor = _visitor(token, account, tenant_id)
    after: UUID | None = None
    if last_event_id:
        try:
            after = UUID(last_event_id)
        except ValueError:
            raise NotFound("unknown Last-Event-ID") from None
    events = _conversation(state, tenant_id, account.id, visitor.visitor_id, after, request)
    return EventSourceResponse(events, ping=15, headers=headers)


class WidgetPreflight:
    """Answers CORS preflights for ``/widget/`` before the global CORS middleware (whose
    origin list is the dashboard's) can refuse them. The preflight allows any origin; the
    real request is checked against the tenant's ``allowed_origins`` and only then gets
    ``Access-Control-Allow-Origin``, so a foreign site still cannot read anything."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS" and scope["path"].startswith("/widget/"):
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin")
            if origin and b"access-control-request-method" in headers:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [
                            (b"access-control-allow-origin", origin),
                            (b"access-control-allow-methods", b"GET, POST"),
                            (b"access-control-allow-headers", b"Content-Type, X-Visitor-Token, Last-Event-ID"),
                            (b"access-control-max-age", b"600"),
                            (b"vary", b"Origin"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


__all__ = ["WidgetPreflight", "router"]
