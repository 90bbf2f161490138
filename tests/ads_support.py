"""Helpers for the ads-loop tests: channel accounts, signed webhooks, our mirror of ad
objects and the inbox processing of stored deliveries (real Postgres, no mocks)."""

from __future__ import annotations

import json
import secrets
from typing import Any
from uuid import UUID

import asyncpg

from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.channels.meta import sign
from tools.inbox import SecretBox, provision
from tools.inbox.store import process_delivery


async def whatsapp_account(pool: asyncpg.Pool, settings: Settings, tenant: TenantId) -> tuple[str, str]:
    """A WhatsApp channel account: (phone_number_id, app_secret)."""
    phone_id, app_secret = str(10**14 + secrets.randbelow(10**14)), secrets.token_hex(16)
    async with tenant_tx(pool, tenant) as conn:
        await provision(
            conn, tenant, SecretBox(settings.channel_secrets_key), channel="whatsapp", provider="whatsapp_cloud",
            external_id=phone_id, name="Loja", base_url=None, config={},
            secrets={"access_token": "EAAG" + secrets.token_hex(8), "app_secret": app_secret, "verify_token": "v"},
        )  # fmt: skip
    return phone_id, app_secret


def whatsapp_body(phone_id: str, sender: str, mid: str, text: str, referral: Any = None) -> bytes:
    msg: dict[str, Any] = {"from": sender, "id": mid, "timestamp": "1764700000", "type": "text", "text": {"body": text}}
    if referral is not None:
        msg["referral"] = referral
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511", "phone_number_id": phone_id},
        "contacts": [{"profile": {"name": "Maria"}, "wa_id": sender}],
        "messages": [msg],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def signed(body: bytes, app_secret: str) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(body, app_secret), "Content-Type": "application/json"}


async def process_pending(pool: asyncpg.Pool, tenant: TenantId) -> int:
    """What the InboxWorker does for each ``inbox.received``: process stored deliveries."""
    async with tenant_tx(pool, tenant) as conn:
        ids = await conn.fetch(
            "select id from inbound_deliveries where tenant_id = $1 and processed_at is null order by received_at",
            tenant,
        )
    for r in ids:
        async with tenant_tx(pool, tenant) as conn:
            await process_delivery(conn, tenant, r["id"])
    return len(ids)


async def ad_account_row(pool: asyncpg.Pool, tenant: TenantId, platform: str = "meta", **config: Any) -> UUID:
    """An ad_accounts row with no usable token (for attribution tests that never call out)."""
    async with tenant_tx(pool, tenant) as conn:
        return UUID(
            str(
                await conn.fetchval(
                    """insert into ad_accounts (tenant_id, platform, external_id, name, config, secrets)
                       values ($1, $2, $3, 'test', $4, '\\x00') returning id""",
                    tenant,
                    platform,
                    str(10**12 + secrets.randbelow(10**12)),
                    config,
                )
            )
        )


async def ad_object(
    pool: asyncpg.Pool,
    tenant: TenantId,
    account_id: UUID,
    level: str,
    external_id: str,
    parent: str | None = None,
    *,
    platform: str = "meta",
    name: str = "",
    creative_version_id: UUID | None = None,
) -> None:
    async with tenant_tx(pool, tenant) as conn:
        await conn.execute(
            """insert into ad_objects (tenant_id, account_id, platform, level, external_id, parent_external_id, name,
                                       status, creative_version_id)
               values ($1, $2, $3, $4, $5, $6, $7, 'paused', $8)""",
            tenant,
            account_id,
            platform,
            level,
            external_id,
            parent,
            name or external_id,
            creative_version_id,
        )


async def rows(pool: asyncpg.Pool, tenant: TenantId, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with tenant_tx(pool, tenant) as conn:
        return list(await conn.fetch(sql, tenant, *args))


__all__ = [
    "ad_account_row",
    "ad_object",
    "process_pending",
    "rows",
    "signed",
    "whatsapp_account",
    "whatsapp_body",
]
