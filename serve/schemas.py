"""Request and response models of the HTTP API (the OpenAPI contract)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

Channel = Literal["whatsapp", "instagram", "email", "chat"]


# Deeper than this cannot be serialised back (pydantic's serializer stops at ~255 levels),
# so it would be stored and then fail on every read: refuse it on the way in instead.
MAX_NESTING = 128


def _check_storable(value: Any) -> None:
    """Postgres text/jsonb cannot hold NUL, and NaN/Infinity are not JSON: Python's json
    module accepts both, so without this they reach the database and fail there (a 500).
    Iterative, so deeply nested ``meta`` cannot exhaust the stack; nesting deeper than
    ``MAX_NESTING`` is refused."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ValueError(f"nested deeper than {MAX_NESTING} levels")
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("NUL characters (\\u0000) are not allowed")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("NaN and Infinity are not allowed")
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        _check_storable(value)
        return value


class LeadIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=40)
    email: EmailStr | None = None
    source: str | None = Field(None, max_length=100)
    campaign: str | None = Field(None, max_length=200)
    score: int = Field(0, ge=0, le=100)
    stage: str = Field("new", min_length=1, max_length=40)
    meta: dict[str, Any] = Field(default_factory=dict)


class Lead(BaseModel):
    id: UUID
    name: str
    phone: str | None
    email: str | None
    source: str | None
    campaign: str | None
    score: int
    stage: str
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime


# The lead lifecycle: what Luddy's qualification assigns (new → engaged → qualified →
# ready_to_buy), customer (set when a deal of theirs is won) and lost.
LeadStage = Literal["new", "engaged", "qualified", "ready_to_buy", "customer", "lost"]


class LeadPatch(Strict):
    """Fields to change; absent fields stay as they are. ``meta`` is merged (top-level keys)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=40, description="null clears it")
    email: EmailStr | None = Field(None, description="null clears it")
    source: str | None = Field(None, max_length=100, description="null clears it")
    campaign: str | None = Field(None, max_length=200, description="null clears it")
    score: int | None = Field(None, ge=0, le=100)
    stage: LeadStage | None = Field(None, description="change emits lead.stage_changed")
    meta: dict[str, Any] | None = None


class LeadPage(BaseModel):
    items: list[Lead]
    next_cursor: str | None


class ThreadIn(Strict):
    id: UUID | None = Field(
        None,
        description="Optional client-chosen thread id (a front end's local chat id). Ids are unique per tenant: "
        "409 if this tenant already has a thread with it; an id used by another tenant is simply a new thread "
        "here, unrelated to theirs.",
    )
    channel: Channel
    external_id: str = Field(min_length=1, max_length=200)
    lead_id: UUID | None = None


class Thread(BaseModel):
    id: UUID
    lead_id: UUID | None
    channel: Channel
    external_id: str
    status: str = Field(description="bot | pending_human | human | closed (docs/inbox.md)")
    created_at: datetime
    channel_account_id: UUID | None = None
    assignee: str | None = None
    unread_count: int = 0
    last_message_at: datetime | None = None


class ThreadPage(BaseModel):
    items: list[Thread]
    next_cursor: str | None


class MessageIn(Strict):
    thread_id: UUID
    direction: Literal["in", "out"]
    sender: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    meta: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    id: UUID
    thread_id: UUID
    direction: Literal["in", "out"]
    sender: str
    body: str
    meta: dict[str, Any]
    created_at: datetime
    content_type: str = "text"
    status: str | None = Field(None, description="received | queued | sent | delivered | read | failed")
    status_reason: str | None = None
    provider_message_id: str | None = None


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None


class DealIn(Strict):
    lead_id: UUID
    title: str = Field("", max_length=200)
    value_cents: int = Field(0, ge=0, le=10**12)
    meta: dict[str, Any] = Field(default_factory=dict)


class DealPatch(Strict):
    """Fields to change; absent fields stay as they are. ``stage: won`` goes through the same
    win as ``POST /deals/{id}/win`` (``deal.won`` once, the lead becomes a customer); a won
    deal is final (its stage and value cannot change: 409); a lost deal may be reopened."""

    title: str | None = Field(None, max_length=200)
    value_cents: int | None = Field(None, ge=0, le=10**12)
    stage: Literal["open", "won", "lost"] | None = Field(None, description="change emits deal.stage_changed")
    meta: dict[str, Any] | None = Field(None, description="merged (top-level keys)")


class Deal(BaseModel):
    id: UUID
    lead_id: UUID
    title: str
    value_cents: int
    stage: Literal["open", "won", "lost"]
    won_at: datetime | None
    meta: dict[str, Any]
    created_at: datetime


class DealPage(BaseModel):
    items: list[Deal]
    next_cursor: str | None


class HealthChecks(BaseModel):
    postgres: str
    redis: str
    ray: str


class Health(BaseModel):
    ok: bool
    ts: datetime
    checks: HealthChecks


class MembershipOut(BaseModel):
    tenant_id: UUID
    slug: str
    name: str
    role: str
    feature_flags: dict[str, Any]


class Me(BaseModel):
    user_id: str
    email: str | None
    memberships: list[MembershipOut]
    tenant: MembershipOut | None = None
    feature_flags: dict[str, Any]


class RlsCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class RlsReport(BaseModel):
    passed: bool
    checks: list[RlsCheck]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail
