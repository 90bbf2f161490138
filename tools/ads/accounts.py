"""Per-tenant ad accounts: provisioning (admin), listing with secret hints, and the
decrypted ``AdAccountView`` a connector needs for one operation.

Secrets (``access_token``, Google's ``developer_token``, …) are sealed with the same
``SecretBox`` (Fernet, ``Settings.channel_secrets_key``) as channel accounts before they
reach SQL; what a route returns is ``secret_hints`` (last 4 characters), never a value.

Secrets need the process's ``SecretBox``: every function that decrypts takes it as
``box=`` (one box per process, built at the entrypoint; ``AdsDeps`` carries it with the
connectors). ``load_account(conn, tenant_id, account_id, box=...)`` — the signature in
the shared notes plus that keyword.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from core.errors import NotFound, ValidationFailed
from core.tenancy import TenantId
from db.events import emit
from tools.inbox.crypto import SecretBox, hint

from .base import AdAccountView, AdsConnector, AdsRegistry
from .errors import AdAccountNotConfigured
from .models import PLATFORMS, Platform

_COLUMNS = (
    "id, platform, external_id, name, currency, timezone, base_url, config, secret_hints, active, created_at, "
    "updated_at"
)

# What each platform's connector cannot work without (tools/ads/<platform>/client.py).
REQUIRED_SECRETS: dict[str, tuple[str, ...]] = {
    "meta": ("access_token",),
    "google": ("access_token", "developer_token"),
    "tiktok": ("access_token",),
}


def public_view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An account as routes return it: ids, settings and secret hints, never a secret."""
    return {k: row[k] for k in _COLUMNS.split(", ")}


def _check_platform(platform: str) -> Platform:
    if platform not in PLATFORMS:
        raise ValidationFailed(
            f"unknown ad platform {platform!r}",
            details=[{"loc": ["body", "platform"], "msg": f"one of {', '.join(PLATFORMS)}"}],
        )
    return platform


async def provision(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    box: SecretBox,
    *,
    platform: str,
    external_id: str,
    name: str = "",
    currency: str = "BRL",
    timezone: str = "America/Sao_Paulo",
    base_url: str | None = None,
    config: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Create the account, or update it (same platform + external id): secrets given
    replace those stored, secrets not given are kept. A new account must carry the
    platform's required secrets."""
    plat = _check_platform(platform)
    existing = await conn.fetchrow(
        """select id, secrets from ad_accounts
           where tenant_id = $1 and platform = $2 and external_id = $3 for update""",
        tenant_id,
        plat,
        external_id,
    )
    merged: dict[str, str] = {}
    if existing is not None:
        merged = {k: v.get_secret_value() for k, v in box.open(existing["secrets"]).items()}
    merged.update({k: v for k, v in (secrets or {}).items() if v})
    missing = [s for s in REQUIRED_SECRETS[plat] if s not in merged]
    if missing:
        raise ValidationFailed(
            f"a {plat} ad account needs {', '.join(missing)}",
            details=[{"loc": ["body", "secrets", s], "msg": "required"} for s in missing],
        )
    hints = {k: hint(v) for k, v in merged.items()}
    sealed = box.seal(merged)
    if existing is None:
        row = await conn.fetchrow(
            f"""insert into ad_accounts (tenant_id, platform, external_id, name, currency, timezone, base_url, config,
                                         secrets, secret_hints)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {_COLUMNS}""",
            tenant_id,
            plat,
            external_id,
            name,
            currency,
            timezone,
            base_url,
            config or {},
            sealed,
            hints,
        )
    else:
        row = await conn.fetchrow(
            f"""update ad_accounts set name = $3, currency = $4, timezone = $5, base_url = $6, config = $7,
                       secrets = $8, secret_hints = $9, active = true, updated_at = now()
                where tenant_id = $1 and id = $2 returning {_COLUMNS}""",
            tenant_id,
            existing["id"],
            name,
            currency,
            timezone,
            base_url,
            config or {},
            sealed,
            hints,
        )
    assert row is not None
    created = existing is None
    await emit(
        conn,
        tenant_id,
        "ads.account.provisioned",
        {"account_id": str(row["id"]), "platform": plat, "external_id": external_id, "created": created},
    )
    return {**public_view(row), "created": created}


async def list_accounts(
    conn: asyncpg.Connection, tenant_id: TenantId, platform: str | None = None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""select {_COLUMNS} from ad_accounts where tenant_id = $1 and ($2::text is null or platform = $2)
            order by created_at, id""",
        tenant_id,
        platform,
    )
    return [public_view(r) for r in rows]


def _view(tenant_id: TenantId, row: asyncpg.Record, box: SecretBox) -> AdAccountView:
    return AdAccountView(
        id=row["id"],
        tenant_id=tenant_id,
        platform=row["platform"],
        external_id=row["external_id"],
        currency=row["currency"],
        timezone=row["timezone"],
        base_url=row["base_url"],
        config=dict(row["config"] or {}),
        secrets=box.open(row["secrets"]),
    )


_VIEW_COLUMNS = "id, platform, external_id, currency, timezone, base_url, config, secrets, active"


async def load_account(
    conn: asyncpg.Connection, tenant_id: TenantId, account_id: UUID, *, box: SecretBox
) -> AdAccountView:
    """The tenant's account ``account_id`` with its secrets (NotFound for another tenant's
    id; AdAccountNotConfigured when it was deactivated)."""
    row = await conn.fetchrow(
        f"select {_VIEW_COLUMNS} from ad_accounts where tenant_id = $1 and id = $2", tenant_id, account_id
    )
    if row is None:
        raise NotFound("ad account not found", details={"account_id": str(account_id)})
    if not row["active"]:
        raise AdAccountNotConfigured("this ad account is deactivated", details={"account_id": str(account_id)})
    return _view(tenant_id, row, box)


async def account_for_platform(
    conn: asyncpg.Connection, tenant_id: TenantId, platform: str, *, box: SecretBox
) -> AdAccountView:
    """The tenant's (oldest) active account on ``platform``."""
    row = await conn.fetchrow(
        f"""select {_VIEW_COLUMNS} from ad_accounts where tenant_id = $1 and platform = $2 and active
            order by created_at, id limit 1""",
        tenant_id,
        _check_platform(platform),
    )
    if row is None:
        raise AdAccountNotConfigured(
            f"no active {platform} ad account: provision one with POST /admin/ads/accounts",
            details={"platform": platform},
        )
    return _view(tenant_id, row, box)


def build_registry(http: httpx.AsyncClient, *, meta_api_version: str | None = None) -> AdsRegistry:
    """The three connectors over the process's one HTTP client. Each account's
    ``base_url`` (a sandbox in tests and ``make run``) decides where a call goes."""
    from .google import GoogleAdsConnector
    from .meta import DEFAULT_API_VERSION, MetaAdsConnector
    from .tiktok import TikTokAdsConnector

    connectors: list[AdsConnector] = [
        MetaAdsConnector(http, api_version=meta_api_version or DEFAULT_API_VERSION),
        GoogleAdsConnector(http),
        TikTokAdsConnector(http),
    ]
    return AdsRegistry(connectors)


@dataclass(frozen=True)
class AdsDeps:
    """What an ads operation needs besides a connection: the process's SecretBox and
    connectors. Built once per process (gateway lifespan, agent actor, worker)."""

    box: SecretBox
    registry: AdsRegistry

    async def account(self, conn: asyncpg.Connection, tenant_id: TenantId, account_id: UUID) -> AdAccountView:
        return await load_account(conn, tenant_id, account_id, box=self.box)

    async def account_for_platform(self, conn: asyncpg.Connection, tenant_id: TenantId, platform: str) -> AdAccountView:
        return await account_for_platform(conn, tenant_id, platform, box=self.box)

    def connector(self, platform: str) -> AdsConnector:
        return self.registry.get(platform)


__all__ = [
    "REQUIRED_SECRETS",
    "AdsDeps",
    "account_for_platform",
    "build_registry",
    "list_accounts",
    "load_account",
    "provision",
    "public_view",
]
