"""The vocabulary shared by the ad connectors and the ads service.

Money is always an ``int`` of minor units of the ad account's currency (centavos for BRL);
each connector converts to its platform's unit at the edge (Meta: minor units already,
Google Ads: micros, TikTok: decimal currency units). Statuses are normalised lower-case
(``paused``/``active``/``archived``/``removed``); each connector maps its platform's
enums (Meta ``PAUSED``/``ACTIVE``/``ARCHIVED``/``DELETED``, Google ``PAUSED``/``ENABLED``/
``REMOVED``, TikTok ``DISABLE``/``ENABLE``/``DELETE``). Levels: ``campaign`` → ``adset``
(Meta ad set, Google ad group, TikTok ad group) → ``ad``; ``creative`` is Meta's ad
creative (Google and TikTok carry the creative inside the ad).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Platform = Literal["meta", "google", "tiktok"]
PLATFORMS: tuple[Platform, ...] = ("meta", "google", "tiktok")
Level = Literal["campaign", "adset", "ad", "creative"]
AdStatus = Literal["paused", "active", "archived", "removed"]
Objective = Literal["leads", "sales", "traffic", "messages", "awareness"]
ConversionKind = Literal["purchase", "lead"]
ClickIdKind = Literal["fbclid", "gclid", "ttclid", "ctwa_clid", "wbraid", "gbraid"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CampaignSpec(_Frozen):
    """A campaign to create. Connectors always create it PAUSED: going live is a separate,
    approved status change (tools.ads guardrails)."""

    name: str = Field(min_length=1, max_length=200)
    objective: Objective = "leads"
    daily_budget_minor: int = Field(gt=0)
    # Our own reference, sent where the platform keeps one, for idempotent retries of a create.
    client_ref: str | None = Field(default=None, max_length=64)


class AdSetSpec(_Frozen):
    campaign_external_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    daily_budget_minor: int | None = Field(default=None, gt=0)
    # Minimal targeting: country codes and an age range; platforms need at least a geo.
    countries: tuple[str, ...] = ("BR",)
    age_min: int = Field(default=18, ge=13, le=65)
    age_max: int = Field(default=65, ge=13, le=65)


class CreativeSpec(_Frozen):
    """An approved Clio creative version as the platform needs it for an ad."""

    adset_external_id: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=200)
    headline: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=2000)
    link_url: str = Field(min_length=1, max_length=2000)
    call_to_action: str = "LEARN_MORE"
    image_url: str | None = None
    # Where the creative version lives on our side (tracking params carry it back).
    creative_version_id: str | None = None


@dataclass(frozen=True, slots=True)
class AdObject:
    """A platform object as the connector read or wrote it."""

    platform: Platform
    level: Level
    external_id: str
    name: str
    status: AdStatus
    parent_external_id: str | None = None
    daily_budget_minor: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a validate-only call answered (``supported`` False where the platform has none)."""

    supported: bool
    ok: bool
    messages: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InsightRow:
    """One object's delivery on one day, in the account's currency."""

    platform: Platform
    level: Literal["campaign", "adset", "ad"]
    external_id: str
    day: date
    impressions: int
    clicks: int
    spend_minor: int
    conversions: float = 0.0
    conversion_value_minor: int = 0
    campaign_external_id: str | None = None
    currency: str = "BRL"
    raw: dict[str, Any] = field(default_factory=dict)


class ConversionEvent(_Frozen):
    """A conversion to send back to the platform that brought the lead.

    Identifiers are given normalised but in clear (e-mail lower-cased and trimmed, phone in
    E.164 digits); the connector hashes them (SHA-256 hex) as its platform requires and
    never sends them in clear. ``event_id`` is the dedupe key on the platform side."""

    event_id: str = Field(min_length=1, max_length=255)
    kind: ConversionKind
    occurred_at: datetime
    value_minor: int = Field(default=0, ge=0)
    currency: str = Field(default="BRL", pattern=r"^[A-Z]{3}$")
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None  # our lead id (hashed by the connector)
    click_id: str | None = None
    click_id_kind: ClickIdKind | None = None
    campaign_external_id: str | None = None
    ad_external_id: str | None = None
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class ConversionResult:
    event_id: str
    accepted: bool
    duplicate: bool = False
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


__all__ = [
    "PLATFORMS",
    "AdObject",
    "AdSetSpec",
    "AdStatus",
    "CampaignSpec",
    "ClickIdKind",
    "ConversionEvent",
    "ConversionKind",
    "ConversionResult",
    "CreativeSpec",
    "DryRun",
    "InsightRow",
    "Level",
    "Objective",
    "Platform",
]
