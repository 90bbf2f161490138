"""Request and response models of the HTTP API (the OpenAPI contract)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

Channel = Literal["whatsapp", "instagram", "email", "chat"]


def _check_storable(value: Any) -> None:
    """Postgres text/jsonb cannot hold NUL, and NaN/Infinity are not JSON: Python's json
    module accepts both, so without this they reach the database and fail there (a 500).
    Iterative, so deeply nested ``meta`` cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("NUL characters (\\u0000) are not allowed")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("NaN and Infinity are not allowed")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


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


class LeadPage(BaseModel):
    items: list[Lead]
    next_cursor: str | None


class ThreadIn(Strict):
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
