"""Lucy's ad-platform tools: list/create campaigns (PAUSED), change status, change budget,
read insights, propose a plan.

Registered into ``actors.tools.REGISTRY`` on import. Every write goes through
``tools.ads.changes`` — the guardrails are code there, not words in a prompt: whatever a
model (or a prompt-injected message) asks, a budget over the caps or a jump over the step
is refused and kept in the audit, and nothing goes ACTIVE or spends more until a person
approves it (``POST /ads/changes/{id}/approve``). Pauses, cuts and PAUSED creates apply at
once. Lucy is never an approver: her changes are requested by ``agent:lucy:<run>``.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import Field, model_validator

from core.errors import TridiumError
from tools.ads import changes
from tools.ads.guardrails import ObjectState, brl, max_allowed_budget
from tools.ads.policy import get_policy

from .tools import ToolContext, _Args, tool


def _who(ctx: ToolContext) -> str:
    return f"agent:{ctx.agent}:{ctx.run_id or 'direct'}"


async def _campaign(conn: asyncpg.Connection, ctx: ToolContext, ref: str | None) -> asyncpg.Record | str:
    """The campaign by id or (case-insensitive) name; without a reference, the tenant's only
    campaign. A string is the question to ask back."""
    cols = "id, account_id, platform, external_id, name, status, daily_budget_minor"
    if ref:
        try:
            by_id = await conn.fetchrow(
                f"select {cols} from ad_objects where tenant_id = $1 and level = 'campaign' and id = $2",
                ctx.tenant_id,
                UUID(ref),
            )
            if by_id is not None:
                return by_id
        except ValueError:
            pass
        rows = await conn.fetch(
            f"""select {cols} from ad_objects where tenant_id = $1 and level = 'campaign'
                  and status <> 'removed' and lower(name) = lower($2) order by updated_at desc""",
            ctx.tenant_id,
            ref.strip(),
        )
        if not rows:
            rows = await conn.fetch(
                f"""select {cols} from ad_objects where tenant_id = $1 and level = 'campaign'
                      and status <> 'removed' and name ilike '%' || $2 || '%' order by updated_at desc limit 5""",
                ctx.tenant_id,
                re.sub(r"[%_\\]", "", ref.strip()),
            )
    else:
        rows = await conn.fetch(
            f"""select {cols} from ad_objects where tenant_id = $1 and level = 'campaign' and status <> 'removed'
                order by updated_at desc limit 5""",
            ctx.tenant_id,
        )
    if len(rows) == 1:
        return rows[0]
    if not rows:
        return f"Não encontrei a campanha {ref!r}." if ref else "Não há campanhas ainda."
    names = ", ".join(r["name"] for r in rows)
    return f"Qual campanha? Encontrei: {names}."


def _describe(change: dict[str, Any], name: str) -> str:
    status = change["status"]
    if status == "applied":
        return f"{name}: aplicado na plataforma."
    if status == "proposed" and change["needs_approval"]:
        return f"{name}: proposto; aguarda aprovação de uma pessoa (admin) antes de ir ao ar."
    if status == "refused":
        return f"{name}: recusado pelas regras de gasto — {change['error']}."
    if status == "failed":
        return f"{name}: a plataforma recusou ({change['error_code']}): {change['error']}."
    return f"{name}: {status}."


def _result(change: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "ok": change["status"] in ("applied", "proposed"),
        "change_id": str(change["id"]),
        "status": change["status"],
        "needs_approval": change["needs_approval"],
        "error_code": change.get("error_code"),
        "summary": summary,
    }


async def _submit(
    ctx: ToolContext,
    conn: asyncpg.Connection,
    key: str,
    *,
    account_id: UUID,
    kind: str,
    params: dict[str, Any],
    object_id: UUID | None,
) -> dict[str, Any]:
    if ctx.ads is None:  # propose only: a person's approval applies it through the gateway
        return await changes.propose_change(
            conn,
            ctx.tenant_id,
            account_id=account_id,
            kind=kind,
            params=params,
            requested_by=_who(ctx),
            idempotency_key=key,
            object_id=object_id,
        )
    return await changes.submit_change(
        conn,
        ctx.tenant_id,
        deps=ctx.ads,
        account_id=account_id,
        kind=kind,
        params=params,
        requested_by=_who(ctx),
        idempotency_key=key,
        object_id=object_id,
    )


# Reads --------------------------------------------------------------------------------------


class ListCampaignsArgs(_Args):
    platform: Literal["meta", "google", "tiktok"] | None = None


@tool(
    "list_campaigns",
    "The company's ad campaigns (Meta, Google, TikTok) with status and daily budget.",
    ListCampaignsArgs,
    agents={"lucy"},
    side_effect=False,
)
async def list_campaigns(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str) -> dict[str, Any]:
    assert conn is not None
    rows = await conn.fetch(
        """select id, platform, external_id, name, status, daily_budget_minor from ad_objects
           where tenant_id = $1 and level = 'campaign' and ($2::text is null or platform = $2)
           order by created_at desc limit 100""",
        ctx.tenant_id,
        args.platform,
    )
    items = [
        {
            "id": str(r["id"]),
            "platform": r["platform"],
            "name": r["name"],
            "status": r["status"],
            "daily_budget_minor": r["daily_budget_minor"],
        }
        for r in rows
    ]
    summary = (
        "Campanhas: "
        + "; ".join(
            f"{i['name']} ({i['platform']}, {i['status']}, "
            f"{brl(i['daily_budget_minor']) + '/dia' if i['daily_budget_minor'] else 'sem orçamento'})"
            for i in items
        )
        + "."
        if items
        else "Nenhuma campanha ainda."
    )
    return {"campaigns": items, "summary": summary}


class InsightsArgs(_Args):
    days: int = Field(7, ge=1, le=90)
    campaign: str | None = Field(None, max_length=200, description="campaign name or id; all when empty")


@tool(
    "read_insights",
    "Ad delivery per campaign over the last N days (synced from the platforms): spend, impressions, clicks, "
    "CTR, CPC, conversions and cost per conversion.",
    InsightsArgs,
    agents={"lucy"},
    side_effect=False,
)
async def read_insights(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str) -> dict[str, Any]:
    assert conn is not None
    rows = await conn.fetch(
        """select m.platform, m.external_id, coalesce(o.name, m.external_id) as name,
                  sum(m.spend_minor) as spend, sum(m.impressions) as impressions, sum(m.clicks) as clicks,
                  sum(m.conversions) as conversions
           from ad_metrics_daily m
           left join ad_objects o on o.tenant_id = m.tenant_id and o.account_id = m.account_id
                and o.level = 'campaign' and o.external_id = m.external_id
           where m.tenant_id = $1 and m.level = 'campaign' and m.day > current_date - $2::int
             and ($3::text is null or o.name ilike $3 or o.id::text = $3)
           group by 1, 2, 3 order by spend desc""",
        ctx.tenant_id,
        args.days,
        args.campaign,
    )
    out = []
    for r in rows:
        spend, imp, clicks, conv = int(r["spend"]), int(r["impressions"]), int(r["clicks"]), float(r["conversions"])
        out.append(
            {
                "platform": r["platform"],
                "campaign": r["name"],
                "spend_minor": spend,
                "impressions": imp,
                "clicks": clicks,
                "ctr": round(clicks / imp, 4) if imp else 0.0,
                "cpc_minor": round(spend / clicks) if clicks else None,
                "conversions": conv,
                "cpa_minor": round(spend / conv) if conv else None,
            }
        )
    if not out:
        summary = f"Sem dados de veiculação nos últimos {args.days} dias."
    else:
        summary = f"Últimos {args.days} dias — " + "; ".join(
            f"{o['campaign']}: {brl(o['spend_minor'])} gastos, {o['clicks']} cliques, CTR {o['ctr']:.2%}"
            + (f", CPA {brl(o['cpa_minor'])}" if o["cpa_minor"] is not None else "")
            for o in out
        )
    return {"days": args.days, "campaigns": out, "summary": summary}


# Writes (every one a change with the guardrails) -----------------------------------------------


class CreateCampaignArgs(_Args):
    name: str = Field(min_length=1, max_length=200)
    daily_budget_minor: int = Field(gt=0, le=10**12, description="daily budget in centavos (R$ 50,00 = 5000)")
    platform: Literal["meta", "google", "tiktok"] = "meta"
    objective: Literal["leads", "sales", "traffic", "messages", "awareness"] = "leads"


@tool(
    "create_campaign",
    "Create an ad campaign, always PAUSED on the platform. Going live is a separate change that a person approves.",
    CreateCampaignArgs,
    agents={"lucy"},
    side_effect=True,
)
async def create_campaign(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, key: str) -> dict[str, Any]:
    assert conn is not None
    account = await conn.fetchrow(
        "select id from ad_accounts where tenant_id = $1 and platform = $2 and active order by created_at limit 1",
        ctx.tenant_id,
        args.platform,
    )
    if account is None:
        return {"ok": False, "summary": f"Não há conta de anúncios {args.platform} configurada."}
    try:
        change = await _submit(
            ctx,
            conn,
            key,
            account_id=account["id"],
            kind="create_campaign",
            params={"name": args.name, "objective": args.objective, "daily_budget_minor": args.daily_budget_minor},
            object_id=None,
        )
    except TridiumError as exc:
        return {"ok": False, "summary": f"Não criei a campanha: {exc.message}"}
    return _result(change, _describe(change, f"Campanha {args.name} (pausada, {brl(args.daily_budget_minor)}/dia)"))


class StatusArgs(_Args):
    campaign: str | None = Field(None, max_length=200, description="campaign name or id")
    status: Literal["paused", "active", "archived"]


@tool(
    "set_campaign_status",
    "Pause, archive or activate a campaign. Pausing applies at once; activating waits for a person's approval.",
    StatusArgs,
    agents={"lucy"},
    side_effect=True,
)
async def set_campaign_status(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, key: str) -> dict[str, Any]:
    assert conn is not None
    found = await _campaign(conn, ctx, args.campaign)
    if isinstance(found, str):
        return {"ok": False, "summary": found}
    try:
        change = await _submit(
            ctx,
            conn,
            key,
            account_id=found["account_id"],
            kind="set_status",
            params={"status": args.status},
            object_id=found["id"],
        )
    except TridiumError as exc:
        return {"ok": False, "summary": f"Não alterei a campanha: {exc.message}"}
    verb = {"paused": "pausar", "active": "ativar", "archived": "arquivar"}[args.status]
    return _result(change, _describe(change, f"{verb.capitalize()} {found['name']}"))


class BudgetArgs(_Args):
    campaign: str | None = Field(None, max_length=200, description="campaign name or id")
    daily_budget_minor: int | None = Field(None, gt=0, le=10**12, description="new daily budget in centavos")
    percent: float | None = Field(None, ge=-100, le=10_000, description="or a change in percent (+20, -30)")

    @model_validator(mode="after")
    def _one(self) -> BudgetArgs:
        if (self.daily_budget_minor is None) == (self.percent is None):
            raise ValueError("give daily_budget_minor or percent")
        return self


@tool(
    "change_budget",
    "Change a campaign's daily budget (a new value in centavos, or a percent). Cuts apply at once; raises are "
    "limited per step, per day and by the company's caps, and wait for a person's approval.",
    BudgetArgs,
    agents={"lucy"},
    side_effect=True,
)
async def change_budget(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, key: str) -> dict[str, Any]:
    assert conn is not None
    found = await _campaign(conn, ctx, args.campaign)
    if isinstance(found, str):
        return {"ok": False, "summary": found}
    current = found["daily_budget_minor"]
    if args.daily_budget_minor is not None:
        new = int(args.daily_budget_minor)
    elif current:
        new = int((Decimal(current) * (1 + Decimal(str(args.percent)) / 100)).quantize(0, ROUND_HALF_UP))
    else:
        return {"ok": False, "summary": f"{found['name']} não tem orçamento diário conhecido."}
    if new <= 0:
        return {"ok": False, "summary": "Para zerar o gasto, pause a campanha."}
    try:
        change = await _submit(
            ctx,
            conn,
            key,
            account_id=found["account_id"],
            kind="set_budget",
            params={"daily_budget_minor": new},
            object_id=found["id"],
        )
    except TridiumError as exc:
        return {"ok": False, "summary": f"Não alterei o orçamento: {exc.message}"}
    label = f"Orçamento de {found['name']}: {brl(current or 0)} → {brl(new)}/dia"
    summary = _describe(change, label)
    if change["status"] == "refused" and current:
        snap = await changes.snapshot(conn, ctx.tenant_id, found["id"])
        best = max_allowed_budget(await get_policy(conn, ctx.tenant_id), ObjectState(found["status"], current), snap)
        if best > current:
            summary += f" O máximo permitido agora é {brl(best)}/dia."
    return _result(change, summary)


class PlanStep(_Args):
    campaign: str = Field(min_length=1, max_length=200)
    action: Literal["pause", "activate", "budget"]
    daily_budget_minor: int | None = Field(None, gt=0, le=10**12)
    percent: float | None = Field(None, ge=-100, le=10_000)


class PlanArgs(_Args):
    steps: list[PlanStep] = Field(min_length=1, max_length=20)
    rationale: str | None = Field(None, max_length=2000)


@tool(
    "propose_plan",
    "Propose a budget plan of several steps (pause, activate, budget). Each step is a change with the same "
    "guardrails: safe steps apply, the rest wait for a person's approval, steps over the limits are refused.",
    PlanArgs,
    agents={"lucy"},
    side_effect=True,
)
async def propose_plan(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, key: str) -> dict[str, Any]:
    assert conn is not None
    results: list[dict[str, Any]] = []
    for i, step in enumerate(args.steps):
        step_key = f"{key}:{i}"
        if step.action == "budget":
            try:
                inner = BudgetArgs(
                    campaign=step.campaign, daily_budget_minor=step.daily_budget_minor, percent=step.percent
                )
            except ValueError:
                results.append({"step": i + 1, "ok": False, "summary": "passo de orçamento sem valor nem percentual."})
                continue
            out = await change_budget(ctx, conn, inner, step_key)
        else:
            status = "paused" if step.action == "pause" else "active"
            out = await set_campaign_status(ctx, conn, StatusArgs(campaign=step.campaign, status=status), step_key)
        results.append({"step": i + 1, **out})
    summary = "Plano: " + " ".join(f"{r['step']}) {r['summary']}" for r in results)
    return {"ok": any(r["ok"] for r in results), "steps": results, "summary": summary}


__all__ = [
    "change_budget",
    "create_campaign",
    "list_campaigns",
    "propose_plan",
    "read_insights",
    "set_campaign_status",
]
