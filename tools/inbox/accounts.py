"""Channel accounts: provisioning (admin), listing with masked secrets, and the decrypted
``AccountView`` a connector or webhook verifier needs. Secrets are sealed with
``SecretBox`` before they reach SQL and never leave this module in clear except inside
an ``AccountView`` (``SecretStr`` values)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict, NotFound
from core.tenancy import TenantId
from db.events import emit
from tools.channels import AccountView

from .crypto import SecretBox, hint

_COLUMNS = "id, channel, provider, external_id, name, base_url, config, secret_hints, active, created_at, updated_at"


def public_view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An account as routes return it: ids, settings and secret hints, never a secret."""
    return {k: row[k] for k in _COLUMNS.split(", ")}


async def provision(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    box: SecretBox,
    *,
    channel: str,
    provider: str,
    external_id: str,
    name: str,
    base_url: str | None,
    config: dict[str, Any],
    secrets: dict[str, str],
) -> dict[str, Any]:
    """Create the account, or update it (same provider + external id): secrets given
    replace those stored; secrets not given are kept."""
    existing = await conn.fetchrow(
        """select id, secrets from channel_accounts
           where tenant_id = $1 and provider = $2 and external_id = $3 for update""",
        tenant_id,
        provider,
        external_id,
    )
    merged: dict[str, str] = {}
    if existing is not None:
        merged = {k: v.get_secret_value() for k, v in box.open(existing["secrets"]).items()}
    merged.update({k: v for k, v in secrets.items() if v})
    hints = {k: hint(v) for k, v in merged.items()}
    sealed = box.seal(merged)
    if existing is None:
        row = await conn.fetchrow(
            f"""insert into channel_accounts (tenant_id, channel, provider, external_id, name, base_url, config,
                                              secrets, secret_hints)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {_COLUMNS}""",
            tenant_id,
            channel,
            provider,
            external_id,
            name,
            base_url,
            config,
            sealed,
            hints,
        )
        created = True
    else:
        row = await conn.fetchrow(
            f"""update channel_accounts set name = $3, base_url = $4, config = $5, secrets = $6, secret_hints = $7,
                       active = true, updated_at = now()
                where tenant_id = $1 and id = $2 returning {_COLUMNS}""",
            tenant_id,
            existing["id"],
            name,
            base_url,
            config,
            sealed,
            hints,
        )
        created = False
    assert row is not None
    if row["channel"] != channel:
        raise Conflict("this provider account is registered for another channel", details={"channel": row["channel"]})
    await emit(
        conn,
        tenant_id,
        "channel_account.provisioned",
        {"account_id": str(row["id"]), "channel": channel, "provider": provider, "created": created},
    )
    return {**public_view(row), "created": created}


async def list_accounts(
    conn: asyncpg.Connection, tenant_id: TenantId, channel: str | None = None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""select {_COLUMNS} from channel_accounts where tenant_id = $1 and ($2::text is null or channel = $2)
            order by created_at, id""",
        tenant_id,
        channel,
    )
    return [public_view(r) for r in rows]


def _view(tenant_id: TenantId, row: asyncpg.Record, box: SecretBox) -> AccountView:
    return AccountView(
        id=row["id"],
        tenant_id=tenant_id,
        channel=row["channel"],
        provider=row["provider"],
        external_id=row["external_id"],
        base_url=row["base_url"],
        config=dict(row["config"] or {}),
        secrets=box.open(row["secrets"]),
    )


async def active_accounts(
    conn: asyncpg.Connection, tenant_id: TenantId, channel: str, box: SecretBox
) -> list[AccountView]:
    """The tenant's active accounts of ``channel`` with their secrets (webhook verification)."""
    rows = await conn.fetch(
        """select id, channel, provider, external_id, base_url, config, secrets from channel_accounts
           where tenant_id = $1 and channel = $2 and active order by created_at, id""",
        tenant_id,
        channel,
    )
    return [_view(tenant_id, r, box) for r in rows]


async def account_view(conn: asyncpg.Connection, tenant_id: TenantId, account_id: UUID, box: SecretBox) -> AccountView:
    row = await conn.fetchrow(
        """select id, channel, provider, external_id, base_url, config, secrets from channel_accounts
           where tenant_id = $1 and id = $2""",
        tenant_id,
        account_id,
    )
    if row is None:
        raise NotFound("channel account not found", details={"id": str(account_id)})
    return _view(tenant_id, row, box)


__all__ = ["account_view", "active_accounts", "list_accounts", "provision", "public_view"]
