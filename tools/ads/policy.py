"""The tenant's spend policy (``ad_policies``): read with defaults, replaced by an admin."""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from core.errors import ValidationFailed
from core.tenancy import TenantId
from db.events import emit

from .guardrails import Policy


async def get_policy(conn: asyncpg.Connection, tenant_id: TenantId) -> Policy:
    """The tenant's policy; a tenant without a row has no caps (so nothing may go live)."""
    row = await conn.fetchrow(
        """select daily_cap_minor, monthly_cap_minor, max_step_pct, max_daily_change_pct
           from ad_policies where tenant_id = $1""",
        tenant_id,
    )
    if row is None:
        return Policy()
    return Policy(
        daily_cap_minor=int(row["daily_cap_minor"]),
        monthly_cap_minor=int(row["monthly_cap_minor"]),
        max_step_pct=Decimal(row["max_step_pct"]),
        max_daily_change_pct=Decimal(row["max_daily_change_pct"]),
    )


async def put_policy(conn: asyncpg.Connection, tenant_id: TenantId, policy: Policy, *, updated_by: str) -> Policy:
    if policy.monthly_cap_minor and policy.monthly_cap_minor < policy.daily_cap_minor:
        raise ValidationFailed(
            "the monthly cap is below the daily cap",
            details=[{"loc": ["body", "monthly_cap_minor"], "msg": "at least daily_cap_minor (or 0: no monthly cap)"}],
        )
    await conn.execute(
        """insert into ad_policies (tenant_id, daily_cap_minor, monthly_cap_minor, max_step_pct, max_daily_change_pct,
                                    updated_by)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (tenant_id) do update set daily_cap_minor = excluded.daily_cap_minor,
               monthly_cap_minor = excluded.monthly_cap_minor, max_step_pct = excluded.max_step_pct,
               max_daily_change_pct = excluded.max_daily_change_pct, updated_by = excluded.updated_by,
               updated_at = now()""",
        tenant_id,
        policy.daily_cap_minor,
        policy.monthly_cap_minor,
        policy.max_step_pct,
        policy.max_daily_change_pct,
        updated_by,
    )
    await emit(conn, tenant_id, "ads.policy.updated", {**policy.as_dict(), "updated_by": updated_by})
    return policy


__all__ = ["get_policy", "put_policy"]
