"""AI cost per tenant per day (UTC), from the priced runs in ``agent_runs``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from core.tenancy import TenantId


async def daily_costs(conn: asyncpg.Connection, tenant_id: TenantId, first: date, last: date) -> dict[str, Any]:
    """One row per day from ``first`` to ``last`` (inclusive), days without runs included."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    rows = await conn.fetch(
        """select (created_at at time zone 'UTC')::date as day, count(*) as runs,
                  coalesce(sum(tokens_in), 0) as tokens_in, coalesce(sum(tokens_out), 0) as tokens_out,
                  coalesce(sum(cost), 0) as cost,
                  array_agg(distinct price_version) filter (where price_version is not null) as versions
           from agent_runs where tenant_id = $1 and created_at >= $2 and created_at < $3
           group by 1 order by 1""",
        tenant_id,
        start,
        end,
    )
    by_day = {r["day"]: r for r in rows}
    days: list[dict[str, Any]] = []
    day = first
    while day <= last:
        r = by_day.get(day)
        days.append(
            {
                "day": day,
                "runs": int(r["runs"]) if r else 0,
                "tokens_in": int(r["tokens_in"]) if r else 0,
                "tokens_out": int(r["tokens_out"]) if r else 0,
                "cost_usd": round(float(r["cost"]), 8) if r else 0.0,
                "price_versions": sorted(r["versions"] or []) if r else [],
            }
        )
        day += timedelta(days=1)
    return {
        "from": first,
        "to": last,
        "currency": "USD",
        "days": days,
        "total_usd": round(sum(d["cost_usd"] for d in days), 8),
        "total_runs": sum(d["runs"] for d in days),
    }


__all__ = ["daily_costs"]
