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
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.tenancy import TenantId
from db.events import emit

from ._store import (
    _COLUMNS,
    _event,
    _lock_tenant,
    _locked,
    _object,
    _object_json,
    _verdict,
    change_view,
    snapshot,
    today_sp,
)
from .accounts import AdsDeps
from .apply import Sleep, apply_change, raise_for_change
from .errors import AdAccountNotConfigured
from .guardrails import CREATE_KINDS
from .models import AdSetSpec, AdStatus, CampaignSpec, CreativeSpec

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
