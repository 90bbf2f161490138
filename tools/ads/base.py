"""The connector protocol: what the ads service needs from an ad platform.

One module per vendor (``meta/``, ``google/``, ``tiktok/``), each over an injected
``httpx.AsyncClient`` with a sandbox server that speaks the platform's HTTP protocol. The
service (guardrails, approvals, audit, sync, conversions) never talks HTTP itself; it calls
these methods with an ``AdAccountView`` built from ``ad_accounts`` for one operation.

Rules every connector keeps:

* creates are PAUSED, always; nothing here can create an ACTIVE object;
* money in and out is minor units of the account currency (``tools.ads.models``);
* ``validate_only=True`` asks the platform for a dry run where it has one (Meta
  ``execution_options=["validate_only"]``, Google ``validate_only``) and returns a
  ``DryRun`` with ``supported=False`` where it has none (TikTok) — never a fake success;
* failures are ``tools.ads.errors`` with the platform's own code; ``retriable`` only where
  a retry is safe (a read, a rate limit before anything was written, an idempotent update).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from pydantic import SecretStr

from .errors import AdAccountNotConfigured
from .models import (
    AdObject,
    AdSetSpec,
    AdStatus,
    CampaignSpec,
    ConversionEvent,
    ConversionResult,
    CreativeSpec,
    DryRun,
    InsightRow,
    Level,
    Platform,
)


@dataclass(frozen=True, slots=True)
class AdAccountView:
    """An ad account as a connector sees it: ids, settings and decrypted secrets. Built per
    operation; secrets stay ``SecretStr``; never crosses a process boundary."""

    id: UUID
    tenant_id: UUID
    platform: Platform
    external_id: str
    currency: str
    timezone: str
    base_url: str | None
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, SecretStr] = field(default_factory=dict)

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if value is None:
            raise AdAccountNotConfigured(
                f"the {self.platform} ad account has no {name}", details={"account_id": str(self.id), "secret": name}
            )
        return value.get_secret_value()


class AdsConnector(Protocol):
    """One ad platform. Implementations: ``tools.ads.meta``, ``tools.ads.google``, ``tools.ads.tiktok``."""

    platform: Platform

    async def list_campaigns(self, account: AdAccountView) -> list[AdObject]: ...

    async def get_object(self, account: AdAccountView, level: Level, external_id: str) -> AdObject: ...

    async def create_campaign(
        self, account: AdAccountView, spec: CampaignSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun: ...

    async def create_adset(
        self, account: AdAccountView, spec: AdSetSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun: ...

    async def create_ad(
        self, account: AdAccountView, spec: CreativeSpec, *, validate_only: bool = False
    ) -> AdObject | DryRun:
        """The creative and the ad that shows it (PAUSED)."""
        ...

    async def set_status(
        self, account: AdAccountView, level: Level, external_id: str, status: AdStatus, *, validate_only: bool = False
    ) -> AdObject | DryRun: ...

    async def set_daily_budget(
        self,
        account: AdAccountView,
        level: Level,
        external_id: str,
        daily_budget_minor: int,
        *,
        validate_only: bool = False,
    ) -> AdObject | DryRun: ...

    async def insights(self, account: AdAccountView, level: Level, since: date, until: date) -> list[InsightRow]:
        """Daily rows per object (one per object and day, inclusive range)."""
        ...

    async def send_conversions(self, account: AdAccountView, events: list[ConversionEvent]) -> list[ConversionResult]:
        """Meta Conversions API / Google click-conversion upload / TikTok Events API."""
        ...


class AdsRegistry:
    """The connectors of one process, by platform."""

    def __init__(self, connectors: list[AdsConnector] | None = None) -> None:
        self._by_platform: dict[str, AdsConnector] = {}
        for c in connectors or []:
            self.register(c)

    def register(self, connector: AdsConnector) -> None:
        self._by_platform[connector.platform] = connector

    def get(self, platform: str) -> AdsConnector:
        connector = self._by_platform.get(platform)
        if connector is None:
            raise AdAccountNotConfigured(f"no connector for ad platform {platform}", details={"platform": platform})
        return connector

    def platforms(self) -> list[str]:
        return sorted(self._by_platform)


__all__ = ["AdAccountView", "AdsConnector", "AdsRegistry"]
