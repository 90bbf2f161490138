"""What ``changes`` and ``apply`` share: the row shape, the object and spend snapshot
queries, the tenant's ads lock and the guardrail verdict. Private to ``tools.ads``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from core.errors import NotFound
from core.tenancy import TenantId

from .guardrails import ObjectState, Snapshot, Verdict, evaluate
from .models import AdObject
from .policy import get_policy

TZ = ZoneInfo("America/Sao_Paulo")

_COLUMNS = (
    "id, account_id, object_id, kind, requested_by, idempotency_key, params, before, after, status, needs_approval, "
    "dry_run, decided_by, decided_at, decision_note, error_code, error, attempts, applied_at, created_at, updated_at"
)


def change_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in _COLUMNS.split(", ")}


def _object_json(row: asyncpg.Record | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": str(row["id"]),
        "level": row["level"],
        "external_id": row["external_id"],
        "name": row["name"],
        "status": row["status"],
        "daily_budget_minor": row["daily_budget_minor"],
    }


def _ad_object_json(obj: AdObject) -> dict[str, Any]:
    return {
        "level": obj.level,
        "external_id": obj.external_id,
        "name": obj.name,
        "status": obj.status,
        "daily_budget_minor": obj.daily_budget_minor,
        "parent_external_id": obj.parent_external_id,
    }


async def _lock_tenant(conn: asyncpg.Connection, tenant_id: TenantId) -> None:
    """Guardrails compare against the sum of everything active: evaluations of one tenant
    run one at a time (transaction-scoped advisory lock, released at commit)."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended('tridium.ads:' || $1::uuid::text, 0))", tenant_id)


def today_sp(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(TZ).date()


async def snapshot(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    object_id: UUID | None,
    *,
    exclude_change: UUID | None = None,
    today: date | None = None,
) -> Snapshot:
    day = today or today_sp()
    others = await conn.fetchval(
        """select coalesce(sum(daily_budget_minor), 0) from ad_objects
           where tenant_id = $1 and status = 'active' and level in ('campaign', 'adset')
             and daily_budget_minor is not null and id is distinct from $2""",
        tenant_id,
        object_id,
    )
    month_spend = await conn.fetchval(
        """select coalesce(sum(spend_minor), 0) from ad_metrics_daily
           where tenant_id = $1 and level = 'campaign' and day >= $2 and day < $3""",
        tenant_id,
        day.replace(day=1),
        day,
    )
    start_budget: int | None = None
    raised = 0
    if object_id is not None:
        day_start = datetime(day.year, day.month, day.day, tzinfo=TZ)
        rows = await conn.fetch(
            """select (before->>'daily_budget_minor')::bigint as old, (params->>'daily_budget_minor')::bigint as new
               from ad_changes
               where tenant_id = $1 and object_id = $2 and kind = 'set_budget'
                 and status in ('approved', 'applying', 'applied') and created_at >= $3
                 and id is distinct from $4
               order by created_at""",
            tenant_id,
            object_id,
            day_start,
            exclude_change,
        )
        if rows:
            start_budget = rows[0]["old"]
            raised = sum(max(0, (r["new"] or 0) - (r["old"] or 0)) for r in rows)
    return Snapshot(
        today=day,
        other_active_daily_minor=int(others),
        month_spend_minor=int(month_spend),
        day_start_budget_minor=start_budget,
        day_raised_minor=raised,
    )


async def _object(conn: asyncpg.Connection, tenant_id: TenantId, object_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        """select id, account_id, platform, level, external_id, parent_external_id, name, status, daily_budget_minor
           from ad_objects where tenant_id = $1 and id = $2""",
        tenant_id,
        object_id,
    )
    if row is None:
        raise NotFound("ad object not found", details={"object_id": str(object_id)})
    return row


async def _verdict(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    kind: str,
    params: dict[str, Any],
    obj: asyncpg.Record | None,
    *,
    exclude_change: UUID | None = None,
) -> Verdict:
    policy = await get_policy(conn, tenant_id)
    before = ObjectState(obj["status"], obj["daily_budget_minor"]) if obj is not None else None
    snap = await snapshot(conn, tenant_id, obj["id"] if obj is not None else None, exclude_change=exclude_change)
    return evaluate(policy, kind, params, before, snap)


def _event(view: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "change_id": str(view["id"]),
        "account_id": str(view["account_id"]),
        "object_id": str(view["object_id"]) if view["object_id"] else None,
        "kind": view["kind"],
        "status": view["status"],
        "needs_approval": view["needs_approval"],
        "requested_by": view["requested_by"],
        "params": view["params"],
        **extra,
    }


async def _locked(conn: asyncpg.Connection, tenant_id: TenantId, change_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"select {_COLUMNS} from ad_changes where tenant_id = $1 and id = $2 for update", tenant_id, change_id
    )
    if row is None:
        raise NotFound("ad change not found", details={"change_id": str(change_id)})
    return row
