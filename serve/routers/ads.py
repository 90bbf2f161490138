"""Lucy's ad operations for people: ad accounts and the spend policy (admin), the approval
queue, and campaigns. Thin: each route calls ``tools.ads`` (accounts, policy, changes).

Every write is a change through ``tools.ads.changes`` — the same guardrails as Lucy's
tools: creates are PAUSED, cuts and pauses apply at once, activation and raises wait for
a person (admin/owner) to approve. A refused change is kept in the audit log and answered
422 ``ads_guardrail_violated`` with the reason; a platform failure is kept as ``failed``
and answered with the platform's error (auth 409, invalid 422, throttled/down 503).
POSTs that create changes require ``Idempotency-Key``: the same key returns the same
change (``Idempotent-Replayed: true``); the same key with another body is a 422.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response

from core.errors import Forbidden, IdempotencyKeyMissing, NotFound, ValidationFailed
from core.tenancy import TenantContext
from db.pool import tenant_tx
from tools.ads import accounts as ad_accounts
from tools.ads import changes
from tools.ads.guardrails import Policy
from tools.ads.policy import get_policy, put_policy

from ..ads.schemas import (
    AdAccountIn,
    AdAccountList,
    AdAccountOut,
    AdChange,
    AdChangeList,
    AdPlatform,
    AdPolicyIn,
    AdPolicyOut,
    BudgetIn,
    CampaignCreated,
    CampaignIn,
    CampaignList,
    ChangeStatus,
    DecisionIn,
    StatusIn,
)
from ..ads.wiring import ads_deps
from ..deps import AdminTenant, State, Tenant

router = APIRouter(tags=["ads"])

IdemKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Required: the same key returns the same change")
]
_CAMPAIGN_COLUMNS = "id, account_id, platform, external_id, name, status, daily_budget_minor, created_at, updated_at"


def _writer(ctx: TenantContext) -> str:
    if ctx.read_only:
        raise Forbidden("this role cannot change ads", details={"role": ctx.role})
    return f"member:{ctx.principal.user_id}"


def _change_key(ctx: TenantContext, key: str | None) -> str:
    if key is None or not key.strip():
        raise IdempotencyKeyMissing("this route requires an Idempotency-Key header")
    if len(key.strip()) > 200:
        raise ValidationFailed(
            "Idempotency-Key is longer than 200 characters",
            details=[{"loc": ["header", "Idempotency-Key"], "msg": "at most 200 characters"}],
        )
    # Per principal, like the gateway's idempotency records.
    return f"api:{ctx.principal.user_id}:{key.strip()}"


def _replayed(response: Response, *results: dict[str, Any] | None) -> None:
    if any(r is not None and r.get("replayed") for r in results):
        response.headers["Idempotent-Replayed"] = "true"


# Admin: accounts and policy ------------------------------------------------------------------


@router.post("/admin/ads/accounts", response_model=AdAccountOut, tags=["admin"])
async def provision_account(body: AdAccountIn, request: Request, state: State, ctx: AdminTenant) -> dict[str, Any]:
    """Create or update an ad account (same platform + external id updates; secrets not
    given are kept). Secrets are encrypted at rest; the response shows hints only."""
    deps = ads_deps(request, state)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await ad_accounts.provision(
            conn,
            ctx.tenant_id,
            deps.box,
            platform=body.platform,
            external_id=body.external_id,
            name=body.name,
            currency=body.currency,
            timezone=body.timezone,
            base_url=body.base_url,
            config=body.config,
            secrets=body.secrets,
        )


@router.get("/admin/ads/accounts", response_model=AdAccountList, tags=["admin"])
async def list_accounts(state: State, ctx: AdminTenant, platform: AdPlatform | None = None) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"items": await ad_accounts.list_accounts(conn, ctx.tenant_id, platform)}


@router.put("/admin/ads/policy", response_model=AdPolicyOut, tags=["admin"])
async def replace_policy(body: AdPolicyIn, state: State, ctx: AdminTenant) -> dict[str, Any]:
    """The tenant's spend guardrails (docs/ads.md): daily cap (0: nothing may go live),
    monthly cap (0: none), the largest raise per step and per day, in percent."""
    policy = Policy(body.daily_cap_minor, body.monthly_cap_minor, body.max_step_pct, body.max_daily_change_pct)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        saved = await put_policy(conn, ctx.tenant_id, policy, updated_by=f"member:{ctx.principal.user_id}")
    return saved.as_dict()


@router.get("/admin/ads/policy", response_model=AdPolicyOut, tags=["admin"])
async def read_policy(state: State, ctx: AdminTenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return (await get_policy(conn, ctx.tenant_id)).as_dict()


# The approval queue --------------------------------------------------------------------------


@router.get("/ads/changes", response_model=AdChangeList)
async def list_changes(
    state: State,
    ctx: Tenant,
    status: ChangeStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Changes, newest first; ``status=proposed`` is the approval queue (``needs_approval``)."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"items": await changes.list_changes(conn, ctx.tenant_id, status=status, limit=limit)}


@router.get("/ads/changes/{change_id}", response_model=AdChange)
async def get_change(change_id: UUID, state: State, ctx: Tenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await changes.get_change(conn, ctx.tenant_id, change_id)


@router.post(
    "/ads/changes/{change_id}/approve",
    response_model=AdChange,
    responses={409: {"description": "not approvable, or the platform refused the account's token"}},
)
async def approve_change(
    change_id: UUID, request: Request, state: State, ctx: Tenant, body: DecisionIn | None = None
) -> dict[str, Any]:
    """A person (admin/owner) approves; the change is applied at once, exactly once (a
    second approve returns the same change). Guardrails are checked again before it
    goes out: a change the caps no longer allow ends ``refused`` (422)."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        await changes.approve_change(
            conn,
            ctx.tenant_id,
            change_id,
            approved_by=f"member:{ctx.principal.user_id}",
            role=ctx.role,
            note=body.note if body else None,
        )
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        applied = await changes.apply_change(conn, ctx.tenant_id, change_id, deps=ads_deps(request, state))
    return changes.raise_for_change(applied)


@router.post("/ads/changes/{change_id}/reject", response_model=AdChange)
async def reject_change(change_id: UUID, state: State, ctx: Tenant, body: DecisionIn | None = None) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await changes.reject_change(
            conn,
            ctx.tenant_id,
            change_id,
            rejected_by=f"member:{ctx.principal.user_id}",
            role=ctx.role,
            note=body.note if body else None,
        )


# Campaigns -----------------------------------------------------------------------------------


async def _campaign(conn: Any, ctx: TenantContext, object_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {_CAMPAIGN_COLUMNS} from ad_objects where tenant_id = $1 and id = $2 and level = 'campaign'",
        ctx.tenant_id,
        object_id,
    )
    if row is None:
        raise NotFound("campaign not found", details={"campaign_id": str(object_id)})
    return dict(row)


@router.get("/ads/campaigns", response_model=CampaignList)
async def list_campaigns(
    state: State,
    ctx: Tenant,
    platform: AdPlatform | None = None,
    status: Annotated[str | None, Query(pattern="^(paused|active|archived|removed)$")] = None,
) -> dict[str, Any]:
    """Our mirror of the campaigns created or changed through Tridium (last known status
    and daily budget)."""
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        rows = await conn.fetch(
            f"""select {_CAMPAIGN_COLUMNS} from ad_objects
                where tenant_id = $1 and level = 'campaign' and ($2::text is null or platform = $2)
                  and ($3::text is null or status = $3)
                order by created_at desc, id""",
            ctx.tenant_id,
            platform,
            status,
        )
    return {"items": [dict(r) for r in rows]}


@router.post(
    "/ads/campaigns",
    response_model=CampaignCreated,
    status_code=201,
    responses={409: {"description": "no ad account on that platform, or its token is refused"}},
)
async def create_campaign(
    body: CampaignIn,
    request: Request,
    response: Response,
    state: State,
    ctx: Tenant,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    """Create a campaign, PAUSED on the platform (a change applied at once). With
    ``activate: true`` a second change proposes going live; it waits for a person (or is
    refused by the guardrails: ``activation.status`` says which)."""
    who = _writer(ctx)
    key = _change_key(ctx, idempotency_key)
    deps = ads_deps(request, state)
    activation: dict[str, Any] | None = None
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        if body.account_id is not None:
            account_id = body.account_id
        elif body.platform is not None:
            account_id = (await deps.account_for_platform(conn, ctx.tenant_id, body.platform)).id
        else:
            raise ValidationFailed(
                "say which ad account: account_id or platform",
                details=[{"loc": ["body", "platform"], "msg": "required"}],
            )
        made = await changes.submit_change(
            conn,
            ctx.tenant_id,
            deps=deps,
            account_id=account_id,
            kind="create_campaign",
            params={"name": body.name, "objective": body.objective, "daily_budget_minor": body.daily_budget_minor},
            requested_by=who,
            idempotency_key=key,
        )
        if body.activate and made["status"] == "applied" and made["object_id"]:
            activation = await changes.propose_change(
                conn,
                ctx.tenant_id,
                account_id=account_id,
                kind="set_status",
                params={"status": "active"},
                requested_by=who,
                idempotency_key=f"{key}:activate",
                object_id=made["object_id"],
            )
        campaign = await _campaign(conn, ctx, made["object_id"]) if made["status"] == "applied" else None
    _replayed(response, made)
    changes.raise_for_change(made)
    # The campaign exists (PAUSED) whatever happened to the activation: 201, with the
    # activation's status (proposed, or refused with its violations) in the body.
    return {"campaign": campaign, "change": made, "activation": activation}


async def _object_change(
    request: Request,
    response: Response,
    state: State,
    ctx: TenantContext,
    campaign_id: UUID,
    kind: str,
    params: dict[str, Any],
    idempotency_key: str | None,
) -> dict[str, Any]:
    who = _writer(ctx)
    key = _change_key(ctx, idempotency_key)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        campaign = await _campaign(conn, ctx, campaign_id)
        change = await changes.submit_change(
            conn,
            ctx.tenant_id,
            deps=ads_deps(request, state),
            account_id=campaign["account_id"],
            kind=kind,
            params=params,
            requested_by=who,
            idempotency_key=key,
            object_id=campaign_id,
        )
    _replayed(response, change)
    response.status_code = 202 if change["status"] == "proposed" else 200
    return changes.raise_for_change(change)


@router.post(
    "/ads/campaigns/{campaign_id}/status",
    response_model=AdChange,
    responses={202: {"model": AdChange, "description": "proposed: waits for a person's approval"}},
)
async def set_campaign_status(
    campaign_id: UUID,
    body: StatusIn,
    request: Request,
    response: Response,
    state: State,
    ctx: Tenant,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    """Pause or archive (applied at once, 200) or activate (proposed, 202: approve it with
    ``POST /ads/changes/{id}/approve``)."""
    return await _object_change(
        request, response, state, ctx, campaign_id, "set_status", {"status": body.status}, idempotency_key
    )


@router.post(
    "/ads/campaigns/{campaign_id}/budget",
    response_model=AdChange,
    responses={202: {"model": AdChange, "description": "a raise: waits for a person's approval"}},
)
async def set_campaign_budget(
    campaign_id: UUID,
    body: BudgetIn,
    request: Request,
    response: Response,
    state: State,
    ctx: Tenant,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    """A new daily budget in minor units: a cut applies at once (200); a raise is checked
    against the step, per-day and cap limits and waits for a person (202)."""
    return await _object_change(
        request,
        response,
        state,
        ctx,
        campaign_id,
        "set_budget",
        {"daily_budget_minor": body.daily_budget_minor},
        idempotency_key,
    )


__all__ = ["router"]
