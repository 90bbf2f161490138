"""Applying an ad change exactly once (see ``tools.ads.changes`` for the life of a change):
lock, check the guardrails again, dry run where the platform has one, the call with
retries of what is retriable, the mirror in ``ad_objects`` and the audit row + event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import TridiumError
from core.tenancy import TenantId
from db.events import emit

from ._store import (
    _COLUMNS,
    _ad_object_json,
    _event,
    _lock_tenant,
    _locked,
    _object,
    _object_json,
    _verdict,
    change_view,
)
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
from .guardrails import CREATE_KINDS
from .models import AdObject, AdSetSpec, CampaignSpec, CreativeSpec, DryRun, Level

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
    outcome = await _call_platform(conn, tenant_id, row, obj, deps=deps, max_attempts=max_attempts, sleep=sleep)
    if isinstance(outcome, _Failed):
        return await _finish(
            conn,
            tenant_id,
            row,
            "failed",
            error_code=outcome.code,
            error=outcome.message,
            before=_object_json(obj),
            dry_run=outcome.dry_run,
            attempts=outcome.attempts,
        )
    result, dry, attempts = outcome
    object_id = await _mirror(conn, tenant_id, row, result, obj, params)
    return await _finish(
        conn,
        tenant_id,
        row,
        "applied",
        before=_object_json(obj),
        after=_ad_object_json(result),
        dry_run=dry,
        attempts=attempts,
        object_id=object_id,
    )


@dataclass(frozen=True, slots=True)
class _Failed:
    code: str
    message: str
    dry_run: dict[str, Any] | None = None
    attempts: int = 0


async def _call_platform(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    row: asyncpg.Record,
    obj: asyncpg.Record | None,
    *,
    deps: AdsDeps,
    max_attempts: int,
    sleep: Sleep,
) -> tuple[AdObject, dict[str, Any] | None, int] | _Failed:
    """Dry run (where the platform has one), then the call: the object the platform
    answered, the dry run and the attempts — or why it failed."""
    kind, params, change_id = row["kind"], dict(row["params"]), row["id"]
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
                message = "; ".join(checked.messages) or "the platform's dry run refused the change"
                return _Failed("ads_dry_run_refused", message, dry)
        result = await _with_retries(real_call, attempts=attempts, max_attempts=max_attempts, sleep=sleep)
    except TridiumError as exc:
        provider = getattr(exc, "provider_code", None)
        return _Failed(exc.code, str(exc) + (f" (platform code {provider})" if provider else ""), dry, attempts[0])
    if not isinstance(result, AdObject):  # a real call answers an object; anything else is a connector bug
        return _Failed("ads_platform_error", "the connector answered a dry run to a real call", dry, attempts[0])
    return result, dry, attempts[0]


async def _mirror(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    row: asyncpg.Record,
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
        result.platform,
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


__all__ = ["Sleep", "apply_change", "raise_for_change"]
