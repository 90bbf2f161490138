"""Request/response models of the ads routes (serve/routers/ads.py). Money is always an
integer of minor units (centavos for BRL)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

AdPlatform = Literal["meta", "google", "tiktok"]
ChangeStatus = Literal["proposed", "approved", "rejected", "applying", "applied", "failed", "refused"]
ChangeKind = Literal["create_campaign", "create_adset", "create_ad", "set_status", "set_budget", "publish_creative"]
Minor = Field(gt=0, le=10**12, strict=True, description="minor units of the account currency (centavos)")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdAccountIn(Strict):
    platform: AdPlatform
    external_id: str = Field(
        min_length=1, max_length=64, description="Meta ad account id (act_…), Google customer id, TikTok advertiser id"
    )
    name: str = Field("", max_length=200)
    currency: str = Field("BRL", pattern=r"^[A-Z]{3}$")
    timezone: str = Field("America/Sao_Paulo", max_length=64)
    base_url: str | None = Field(None, pattern=r"^https?://", max_length=500, description="a sandbox URL in tests")
    config: dict[str, Any] = Field(
        default_factory=dict, description="non-secret ids: page_id, pixel_id, conversion_action_id, identity_id, …"
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="access_token (all), developer_token (Google), …: stored encrypted, never returned",
    )

    @model_validator(mode="after")
    def _bounded(self) -> AdAccountIn:
        if len(self.secrets) > 10 or any(len(k) > 40 or len(v) > 4096 for k, v in self.secrets.items()):
            raise ValueError("at most 10 secrets, names up to 40 and values up to 4096 characters")
        return self


class AdAccountOut(BaseModel):
    id: UUID
    platform: AdPlatform
    external_id: str
    name: str
    currency: str
    timezone: str
    base_url: str | None
    config: dict[str, Any]
    secret_hints: dict[str, str] = Field(description="last characters of each secret; secrets are never returned")
    active: bool
    created_at: datetime
    updated_at: datetime
    created: bool | None = None


class AdAccountList(BaseModel):
    items: list[AdAccountOut]


class AdPolicyIn(Strict):
    daily_cap_minor: int = Field(ge=0, le=10**12, strict=True, description="0: nothing may go live")
    monthly_cap_minor: int = Field(0, ge=0, le=10**13, strict=True, description="0: no monthly cap")
    max_step_pct: Decimal = Field(Decimal(20), gt=0, le=100)
    max_daily_change_pct: Decimal = Field(Decimal(40), gt=0, le=1000)


class AdPolicyOut(BaseModel):
    daily_cap_minor: int
    monthly_cap_minor: int
    max_step_pct: float
    max_daily_change_pct: float


class Violation(BaseModel):
    rule: str
    message: str
    limit: float | None = None
    asked: float | None = None


class AdChange(BaseModel):
    id: UUID
    account_id: UUID
    object_id: UUID | None
    kind: ChangeKind
    requested_by: str
    params: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    status: ChangeStatus
    needs_approval: bool
    dry_run: dict[str, Any] | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    error_code: str | None
    error: str | None
    attempts: int
    applied_at: datetime | None
    created_at: datetime
    updated_at: datetime
    violations: list[Violation] | None = Field(None, description="what a refused proposal ran into")


class AdChangeList(BaseModel):
    items: list[AdChange]


class DecisionIn(Strict):
    note: str | None = Field(None, max_length=1000)


class CampaignIn(Strict):
    platform: AdPlatform | None = Field(None, description="default: the account's; one of account_id/platform")
    account_id: UUID | None = None
    name: str = Field(min_length=1, max_length=200)
    objective: Literal["leads", "sales", "traffic", "messages", "awareness"] = "leads"
    daily_budget_minor: int = Minor
    activate: bool = Field(False, description="also propose going live (waits for a person's approval)")


class Campaign(BaseModel):
    id: UUID
    account_id: UUID
    platform: AdPlatform
    external_id: str
    name: str
    status: Literal["paused", "active", "archived", "removed"]
    daily_budget_minor: int | None
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    items: list[Campaign]


class CampaignCreated(BaseModel):
    campaign: Campaign | None = Field(description="null when the create did not apply (see change)")
    change: AdChange
    activation: AdChange | None = None


class StatusIn(Strict):
    status: Literal["paused", "active", "archived"]


class BudgetIn(Strict):
    daily_budget_minor: int = Minor
