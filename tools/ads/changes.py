"""Ad changes: one ``ad_changes`` row per change Lucy, a rule or a person asks for — the
approval queue and the audit log at once.

Life of a change::

    propose_change ──guardrail violated──▶ refused            (reason in error/error_code)
        │
        ├─ lowers or keeps spend ─────────▶ proposed ──apply_change──▶ applied | failed
        └─ activates or raises ───────────▶ proposed (needs_approval)
                                               ├─ reject_change (a person) ──▶ rejected
                                               └─ approve_change (a person) ──▶ approved
                                                        └─ apply_change ──▶ applied | failed | refused

* ``propose_change`` validates the params for the kind, reads the spend snapshot under a
  per-tenant lock and runs ``tools.ads.guardrails.evaluate``. A violation is recorded (the
  row ends ``refused``) and returned, not raised, so the caller can commit the audit row
  and then raise ``GuardrailViolated`` with ``raise_for_change``.
* Only a person approves: ``approved_by`` must be ``member:<user id>`` with the admin or
  owner role. An agent (``agent:…``) or a rule (``rule:…``) never can.
* ``apply_change`` runs a change exactly once: the row is locked (``SELECT … FOR UPDATE``)
  for the whole call, so a concurrent apply waits and then finds it ``applied``. The
  guardrails are evaluated again, then a dry run where the platform has one (Meta
  ``validate_only``, Google ``validate_only``; TikTok has none and says so), then the call.
  Retriable connector errors (rate limits, 5xx on reads/idempotent updates) are retried with
  backoff; a create whose outcome is unknown is not (``outcome_unknown``). The object before
  and after, the dry run, attempts and the platform's error land on the row.
* Events (outbox, same transaction): ``ads.change.proposed|refused|approved|rejected|
  applied|failed``.

Creates are always PAUSED on the platform (the connectors cannot create anything ACTIVE)
and mirrored in ``ad_objects``; going live is a ``set_status`` change that needs approval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import Conflict, Forbidden, NotFound, TridiumError, ValidationFailed
from core.tenancy import TenantId
from db.events import emit

from .accounts import AdsDeps
from .base import AdAccountView, AdsConnector
from .errors import (
    AdAccountNotConfigured,
    AdsAuthFailed,
    AdsPlatformError,
    AdsRateLimited,
    AdsRequestRejected,
    ApprovalRequired,
    GuardrailViolated,
)
from .guardrails import CREATE_KINDS, ObjectState, Snapshot, Verdict, evaluate
from .models import AdObject, AdSetSpec, AdStatus, CampaignSpec, CreativeSpec, DryRun, Level
from .policy import get_policy

TZ = ZoneInfo("America/Sao_Paulo")
Kind = Literal["create_campaign", "create_adset", "create_ad", "set_status", "set_budget", "publish_creative"]
KINDS: tuple[str, ...] = (
    "create_campaign",
    "create_adset",
    "create_ad",
    "set_status",
    "set_budget",
    "publish_creative",
)
APPROVER_ROLES = frozenset({"owner", "admin"})


class StatusParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    status: AdStatus


class BudgetParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    daily_budget_minor: int = Field(gt=0, le=10**12, strict=True)


class PublishParams(CreativeSpec):
    """``publish_creative``: a Clio creative version as a PAUSED ad (``creative_version_id`` required)."""

    creative_version_id: str = Field(min_length=1)


_PARAMS: dict[str, type[BaseModel]] = {
    "create_campaign": CampaignSpec,
    "create_adset": AdSetSpec,
    "create_ad": CreativeSpec,
    "publish_creative": PublishParams,
    "set_status": StatusParams,
    "set_budget": BudgetParams,
}

_COLUMNS = (
    "id, account_id, object_id, kind, requested_by, idempotency_key, params, before, after, status, needs_approval, "
    "dry_run, decided_by, decided_at, decision_note, error_code, error, attempts, applied_at, created_at, updated_at"
)


def change_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in _COLUMNS.split(", ")}


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The params as stored (defaults filled), or ValidationFailed with field paths."""
    model = _PARAMS.get(kind)
    if model is None:
        raise ValidationFailed(
            f"unknown change kind {kind!r}", details=[{"loc": ["kind"], "msg": f"one of {', '.join(KINDS)}"}]
        )
    try:
        return model.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        details = [{"loc": ["params", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ValidationFailed(f"invalid params for {kind}", details=details) from exc


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


async def propose_change(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    account_id: UUID,
    kind: str,
    params: dict[str, Any],
    requested_by: str,
    idempotency_key: str,
    object_id: UUID | None = None,
) -> dict[str, Any]:
    """Record a change with the guardrails applied and return the row (``status``
    ``proposed`` or ``refused``; ``needs_approval``; ``violations`` when refused). The same
    ``idempotency_key`` returns the same row (``replayed: True``); with other params it is a
    ValidationFailed. Nothing is sent to the platform here: see ``apply_change``.
    """
    clean = validate_params(kind, params)
    existing = await conn.fetchrow(
        f"select {_COLUMNS} from ad_changes where tenant_id = $1 and idempotency_key = $2", tenant_id, idempotency_key
    )
    if existing is not None:
        # A create's row gets its object_id when applied: compare the target only for updates.
        same_target = kind in CREATE_KINDS or existing["object_id"] == object_id
        if existing["kind"] != kind or existing["params"] != clean or not same_target:
            raise ValidationFailed(
                "this idempotency key was used for another change", details={"change_id": str(existing["id"])}
            )
        return change_view(existing) | {"replayed": True}
    account = await conn.fetchrow(
        "select platform, active from ad_accounts where tenant_id = $1 and id = $2", tenant_id, account_id
    )
    if account is None:
        raise NotFound("ad account not found", details={"account_id": str(account_id)})
    if not account["active"]:
        raise AdAccountNotConfigured("this ad account is deactivated", details={"account_id": str(account_id)})
    obj: asyncpg.Record | None = None
    if kind in ("set_status", "set_budget") and object_id is None:
        raise ValidationFailed(
            f"{kind} needs the object to change", details=[{"loc": ["object_id"], "msg": "required"}]
        )
    if object_id is not None:
        obj = await _object(conn, tenant_id, object_id)
        if obj["account_id"] != account_id:
            raise ValidationFailed("the object belongs to another ad account", details={"object_id": str(object_id)})
    await _lock_tenant(conn, tenant_id)
    verdict = await _verdict(conn, tenant_id, kind, clean, obj if kind not in CREATE_KINDS else None)
    status = "proposed" if verdict.ok else "refused"
    row = await conn.fetchrow(
        f"""insert into ad_changes (tenant_id, account_id, object_id, kind, requested_by, idempotency_key, params,
                                    before, status, needs_approval, error_code, error)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning {_COLUMNS}""",
        tenant_id,
        account_id,
        object_id,
        kind,
        requested_by,
        idempotency_key,
        clean,
        _object_json(obj),
        status,
        verdict.needs_approval,
        None if verdict.ok else f"guardrail:{verdict.violations[0].rule}",
        None if verdict.ok else verdict.reason(),
    )
    assert row is not None
    view = change_view(row)
    payload = _event(view, platform=account["platform"])
    if verdict.ok:
        await emit(conn, tenant_id, "ads.change.proposed", payload)
    else:
        view["violations"] = [v.as_dict() for v in verdict.violations]
        await emit(conn, tenant_id, "ads.change.refused", payload | {"violations": view["violations"]})
    return view


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


def _check_person(decided_by: str, role: str) -> None:
    if not decided_by.startswith("member:") or role not in APPROVER_ROLES:
        raise Forbidden(
            "only a person with the admin or owner role decides on ad changes (agents and rules cannot)",
            details={"decided_by": decided_by.split(":", 1)[0], "role": role},
        )


async def approve_change(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    change_id: UUID,
    *,
    approved_by: str,
    role: str,
    note: str | None = None,
) -> dict[str, Any]:
    """A person approves a proposed change (idempotent: an approved/applied one is returned
    as it is). Apply it with ``apply_change``."""
    _check_person(approved_by, role)
    row = await _locked(conn, tenant_id, change_id)
    if row["status"] in ("approved", "applying", "applied"):
        return change_view(row)
    if row["status"] != "proposed":
        raise Conflict(f"this change is {row['status']}: it cannot be approved", details={"status": row["status"]})
    updated = await conn.fetchrow(
        f"""update ad_changes set status = 'approved', decided_by = $3, decided_at = now(), decision_note = $4,
                   updated_at = now()
            where tenant_id = $1 and id = $2 returning {_COLUMNS}""",
        tenant_id,
        change_id,
        approved_by,
        note,
    )
    assert updated is not None
    view = change_view(updated)
    await emit(conn, tenant_id, "ads.change.approved", _event(view, decided_by=approved_by))
    return view


async def reject_change(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    change_id: UUID,
    *,
    rejected_by: str,
    role: str,
    note: str | None = None,
) -> dict[str, Any]:
    _check_person(rejected_by, role)
    row = await _locked(conn, tenant_id, change_id)
    if row["status"] == "rejected":
        return change_view(row)
    if row["status"] not in ("proposed", "approved"):
        raise Conflict(f"this change is {row['status']}: it cannot be rejected", details={"status": row["status"]})
    updated = await conn.fetchrow(
        f"""update ad_changes set status = 'rejected', decided_by = $3, decided_at = now(), decision_note = $4,
                   updated_at = now()
            where tenant_id = $1 and id = $2 returning {_COLUMNS}""",
        tenant_id,
        change_id,
        rejected_by,
        note,
    )
    assert updated is not None
    view = change_view(updated)
    await emit(conn, tenant_id, "ads.change.rejected", _event(view, decided_by=rejected_by))
    return view


async def get_change(conn: asyncpg.Connection, tenant_id: TenantId, change_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {_COLUMNS} from ad_changes where tenant_id = $1 and id = $2", tenant_id, change_id
    )
    if row is None:
        raise NotFound("ad change not found", details={"change_id": str(change_id)})
    return change_view(row)


async def list_changes(
    conn: asyncpg.Connection, tenant_id: TenantId, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""select {_COLUMNS} from ad_changes where tenant_id = $1 and ($2::text is null or status = $2)
            order by created_at desc, id limit $3""",
        tenant_id,
        status,
        limit,
    )
    return [change_view(r) for r in rows]


# Applying -----------------------------------------------------------------------------------

Sleep = Callable[[float], Awaitable[None]]


async def _with_retries(
    call: Callable[[], Awaitable[AdObject | DryRun]], *, attempts: list[int], max_attempts: int, sleep: Sleep
) -> AdObject | DryRun:
    """Retry what the connector marked ``retriable`` (it already retried inside; this
    covers a throttle that outlived its budget). A non-retriable error — including a create
    whose outcome is unknown — goes straight to the caller."""
    n = 0
    while True:
        n += 1
        attempts[0] += 1
        try:
            return await call()
        except AdsPlatformError as exc:
            wait = exc.retry_after_s if exc.retry_after_s is not None else 0.5 * 2 ** (n - 1)
            if not exc.retriable or n >= max_attempts or wait > 30:
                raise
            await sleep(min(wait, 8.0))


async def _platform_call(
    connector: AdsConnector,
    account: AdAccountView,
    kind: str,
    params: dict[str, Any],
    obj: asyncpg.Record | None,
    change_id: UUID,
    *,
    validate_only: bool,
) -> AdObject | DryRun:
    if kind == "create_campaign":
        spec = CampaignSpec.model_validate({**params, "client_ref": params.get("client_ref") or str(change_id)})
        return await connector.create_campaign(account, spec, validate_only=validate_only)
    if kind == "create_adset":
        return await connector.create_adset(account, AdSetSpec.model_validate(params), validate_only=validate_only)
    if kind in ("create_ad", "publish_creative"):
        return await connector.create_ad(account, CreativeSpec.model_validate(params), validate_only=validate_only)
    assert obj is not None
    level: Level = obj["level"]
    if kind == "set_status":
        return await connector.set_status(
            account, level, obj["external_id"], params["status"], validate_only=validate_only
        )
    return await connector.set_daily_budget(
        account, level, obj["external_id"], int(params["daily_budget_minor"]), validate_only=validate_only
    )


def _dry_json(d: DryRun) -> dict[str, Any]:
    return {"supported": d.supported, "ok": d.ok, "messages": list(d.messages)}


async def apply_change(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    change_id: UUID,
    *,
    deps: AdsDeps,
    max_attempts: int = 3,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any]:
    """Send an approved change (or one that needs no approval) to the platform, exactly
    once, and return the row. ``applied``/``failed``/``refused``/``rejected`` rows come back
    unchanged; a change still waiting for a person raises ApprovalRequired. Platform
    failures do not raise: the row ends ``failed`` with ``error_code`` (use
    ``raise_for_change`` after committing)."""
    await _lock_tenant(conn, tenant_id)
    row = await _locked(conn, tenant_id, change_id)
    status = row["status"]
    if status == "proposed" and row["needs_approval"]:
        raise ApprovalRequired(
            "this change goes live only after a person approves it", details={"change_id": str(change_id)}
        )
    if status not in ("proposed", "approved"):
        return change_view(row)
    kind, params = row["kind"], dict(row["params"])
    obj = await _object(conn, tenant_id, row["object_id"]) if row["object_id"] and kind not in CREATE_KINDS else None
    verdict = await _verdict(conn, tenant_id, kind, params, obj, exclude_change=change_id)
    if not verdict.ok:
        return await _finish(
            conn,
            tenant_id,
            row,
            "refused",
            error_code=f"guardrail:{verdict.violations[0].rule}",
            error=verdict.reason(),
            before=_object_json(obj),
        )
    account_row = await conn.fetchrow(
        "select platform from ad_accounts where tenant_id = $1 and id = $2", tenant_id, row["account_id"]
    )
    assert account_row is not None
    attempts = [0]
    dry: dict[str, Any] | None = None
    try:
        account = await deps.account(conn, tenant_id, row["account_id"])
        connector = deps.connector(account.platform)

        async def dry_call() -> AdObject | DryRun:
            return await _platform_call(connector, account, kind, params, obj, change_id, validate_only=True)

        async def real_call() -> AdObject | DryRun:
            return await _platform_call(connector, account, kind, params, obj, change_id, validate_only=False)

        checked = await _with_retries(dry_call, attempts=[0], max_attempts=max_attempts, sleep=sleep)
        if isinstance(checked, DryRun):
            dry = _dry_json(checked)
            if checked.supported and not checked.ok:
                return await _finish(
                    conn,
                    tenant_id,
                    row,
                    "failed",
                    error_code="ads_dry_run_refused",
                    error="; ".join(checked.messages) or "the platform's dry run refused the change",
                    before=_object_json(obj),
                    dry_run=dry,
                )
        result = await _with_retries(real_call, attempts=attempts, max_attempts=max_attempts, sleep=sleep)
    except TridiumError as exc:
        code = exc.code
        provider = getattr(exc, "provider_code", None)
        message = str(exc) + (f" (platform code {provider})" if provider else "")
        return await _finish(
            conn,
            tenant_id,
            row,
            "failed",
            error_code=code,
            error=message,
            before=_object_json(obj),
            dry_run=dry,
            attempts=attempts[0],
        )
    if not isinstance(result, AdObject):  # a real call answers an object; anything else is a connector bug
        raise AdsPlatformError(
            "the platform answered a dry run to a real call", platform=account_row["platform"], retriable=False
        )
    after = _ad_object_json(result)
    object_id = await _mirror(conn, tenant_id, row, account_row["platform"], result, obj, params)
    return await _finish(
        conn,
        tenant_id,
        row,
        "applied",
        before=_object_json(obj),
        after=after,
        dry_run=dry,
        attempts=attempts[0],
        object_id=object_id,
    )


async def _mirror(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    row: asyncpg.Record,
    platform: str,
    result: AdObject,
    obj: asyncpg.Record | None,
    params: dict[str, Any],
) -> UUID:
    """Keep ``ad_objects`` in step with what the platform answered."""
    if obj is not None:
        await conn.execute(
            """update ad_objects set status = $3, daily_budget_minor = coalesce($4, daily_budget_minor),
                      updated_at = now() where tenant_id = $1 and id = $2""",
            tenant_id,
            obj["id"],
            result.status,
            result.daily_budget_minor,
        )
        oid: UUID = obj["id"]
        return oid
    creative_version: UUID | None = None
    try:
        creative_version = UUID(str(params.get("creative_version_id"))) if params.get("creative_version_id") else None
    except ValueError:
        creative_version = None
    if creative_version is not None:
        exists = await conn.fetchval(
            "select 1 from creative_versions where tenant_id = $1 and id = $2", tenant_id, creative_version
        )
        creative_version = creative_version if exists else None
    new_id: UUID = await conn.fetchval(
        """insert into ad_objects (tenant_id, account_id, platform, level, external_id, parent_external_id, name,
                                   status, daily_budget_minor, creative_version_id, meta)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           on conflict (tenant_id, account_id, level, external_id) do update set status = excluded.status,
               daily_budget_minor = excluded.daily_budget_minor, updated_at = now()
           returning id""",
        tenant_id,
        row["account_id"],
        platform,
        result.level,
        result.external_id,
        result.parent_external_id,
        result.name,
        result.status,
        result.daily_budget_minor,
        creative_version,
        {"change_id": str(row["id"])},
    )
    return new_id


async def _finish(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    row: asyncpg.Record,
    status: str,
    *,
    error_code: str | None = None,
    error: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    dry_run: dict[str, Any] | None = None,
    attempts: int = 0,
    object_id: UUID | None = None,
) -> dict[str, Any]:
    updated = await conn.fetchrow(
        f"""update ad_changes set status = $3, error_code = $4, error = $5, before = coalesce($6, before), after = $7,
                   dry_run = $8, attempts = attempts + $9, object_id = coalesce($10, object_id),
                   applied_at = case when $3 = 'applied' then now() end, updated_at = now()
            where tenant_id = $1 and id = $2 returning {_COLUMNS}""",
        tenant_id,
        row["id"],
        status,
        error_code,
        error,
        before,
        after,
        dry_run,
        attempts,
        object_id,
    )
    assert updated is not None
    view = change_view(updated)
    event = {"applied": "ads.change.applied", "failed": "ads.change.failed", "refused": "ads.change.refused"}[status]
    await emit(conn, tenant_id, event, _event(view, before=view["before"], after=view["after"], error_code=error_code))
    return view


_FAILURES: dict[str, Callable[[str, dict[str, Any]], TridiumError]] = {
    AdsAuthFailed.code: lambda m, d: AdsAuthFailed(m, platform=str(d.get("platform", "")), details=d),
    AdsRequestRejected.code: lambda m, d: AdsRequestRejected(m, platform=str(d.get("platform", "")), details=d),
    AdsRateLimited.code: lambda m, d: AdsRateLimited(m, platform=str(d.get("platform", "")), details=d),
    AdAccountNotConfigured.code: lambda m, d: AdAccountNotConfigured(m, details=d),
}


def raise_for_change(change: dict[str, Any]) -> dict[str, Any]:
    """After the audit row is committed: a refused change raises GuardrailViolated (422), a
    failed one the error the platform gave (auth → 409, rejected → 422, throttled → 503,
    other platform failures → 503); anything else is returned."""
    details = {"change_id": str(change["id"]), "status": change["status"], "error_code": change.get("error_code")}
    if change["status"] == "refused":
        raise GuardrailViolated(
            f"guardrail: {change.get('error')}", details=details | {"violations": change.get("violations", [])}
        )
    if change["status"] == "failed":
        code = str(change.get("error_code") or "")
        message = str(change.get("error") or "the ad platform refused the change")
        make = _FAILURES.get(code)
        if make is not None:
            raise make(message, details)
        if code == "ads_dry_run_refused":
            raise AdsRequestRejected(message, platform="", details=details)
        raise AdsPlatformError(message, platform="", retriable=False, details=details)
    return change


async def submit_change(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    deps: AdsDeps,
    account_id: UUID,
    kind: str,
    params: dict[str, Any],
    requested_by: str,
    idempotency_key: str,
    object_id: UUID | None = None,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any]:
    """Propose, and apply at once what needs no approval (pauses, cuts, PAUSED creates)."""
    change = await propose_change(
        conn,
        tenant_id,
        account_id=account_id,
        kind=kind,
        params=params,
        requested_by=requested_by,
        idempotency_key=idempotency_key,
        object_id=object_id,
    )
    if change["status"] == "proposed" and not change["needs_approval"]:
        applied = await apply_change(conn, tenant_id, change["id"], deps=deps, sleep=sleep)
        return applied | ({"replayed": True} if change.get("replayed") else {})
    return change


__all__ = [
    "KINDS",
    "Kind",
    "apply_change",
    "approve_change",
    "change_view",
    "get_change",
    "list_changes",
    "propose_change",
    "raise_for_change",
    "reject_change",
    "snapshot",
    "submit_change",
    "today_sp",
    "validate_params",
]
