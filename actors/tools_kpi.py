"""Lucy's tools (KPIs, events, conversions) and Clio's (creatives, versions, winners).

Registered into ``actors.tools.REGISTRY`` on import; see that module for the rules every
call goes through.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from tools.ads.conversions import suppress_lead
from tools.ads.kpi import KPI_TIMEZONE, MAX_RANGE_DAYS, kpi_report
from tools.ads.publish import mark_winner_from_attribution

from .tools import ToolContext, _Args, brl, tool


class KpiArgs(_Args):
    group_by: Literal["source", "campaign", "creative"] = "source"
    days: int = Field(30, ge=1, le=MAX_RANGE_DAYS)


_NONE_LABEL = {"source": "(sem origem)", "campaign": "(sem campanha)", "creative": "(sem criativo)"}


def _ads_part(g: dict[str, Any]) -> str:
    if not g["spend_minor"]:
        return ""
    roas = f", ROAS {g['roas']:.2f}".replace(".", ",") if g["roas"] is not None else ""
    cpl = f", CPL {brl(g['cpl_minor'])}" if g["cpl_minor"] is not None else ""
    return f", investimento {brl(g['spend_minor'])}{cpl}{roas}"


@tool(
    "get_kpis",
    "Ad spend, leads, customers, revenue and the ad KPIs (CTR, CPC, CPM, CPL, CPA, CAC, ROAS, conversion rate) "
    "per lead source, campaign or creative over the last N days (São Paulo days, today included) — the same "
    "numbers as GET /metrics/kpi.",
    KpiArgs,
    agents={"lucy"},
    side_effect=False,
)
async def get_kpis(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str) -> dict[str, Any]:
    assert conn is not None
    last = datetime.now(ZoneInfo(KPI_TIMEZONE)).date()
    report = await kpi_report(conn, ctx.tenant_id, last - timedelta(days=args.days - 1), last, args.group_by)
    groups = [
        {
            **g,
            args.group_by: g["label"] or g["key"] or _NONE_LABEL[args.group_by],
            "won": g["customers"],
            "revenue_cents": g["revenue_minor"],
            "revenue": brl(g["revenue_minor"]),
            "conversion": g["conversion_rate"] or 0.0,
        }
        for g in report["groups"]
    ]
    label = {"source": "origem", "campaign": "campanha", "creative": "criativo"}[args.group_by]
    if not groups:
        summary = f"Nenhum dado nos últimos {args.days} dias."
    else:
        parts = [
            f"{g[args.group_by]}: {g['leads']} lead(s), {g['won']} venda(s), {g['revenue']}{_ads_part(g)}"
            for g in groups
        ]
        summary = f"Por {label}, últimos {args.days} dias — " + "; ".join(parts) + "."
    return {
        "group_by": args.group_by,
        "days": args.days,
        "from": report["from"].isoformat(),
        "to": report["to"].isoformat(),
        "groups": groups,
        "totals": report["totals"],
        "summary": summary,
    }


class EventsArgs(_Args):
    type: str | None = Field(None, max_length=100)
    limit: int = Field(20, ge=1, le=100)


@tool(
    "list_events",
    "The most recent business events (lead.created, deal.won, payment.*), optionally of one type.",
    EventsArgs,
    agents={"lucy"},
    side_effect=False,
)
async def list_events(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str) -> dict[str, Any]:
    assert conn is not None
    rows = await conn.fetch(
        """select id, type, payload, created_at from event_log where tenant_id = $1 and ($2::text is null or type = $2)
           order by created_at desc limit $3""",
        ctx.tenant_id,
        args.type,
        args.limit,
    )
    events = [
        {"id": str(r["id"]), "type": r["type"], "payload": r["payload"], "at": r["created_at"].isoformat()}
        for r in rows
    ]
    counts: dict[str, int] = {}
    for e in events:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    summary = (
        "Eventos recentes: " + ", ".join(f"{t} ({n})" for t, n in sorted(counts.items())) + "."
        if events
        else "Nenhum evento recente."
    )
    return {"events": events, "summary": summary}


class ConversionArgs(_Args):
    deal_id: UUID


@tool(
    "record_conversion",
    "Attribute a won deal to its lead's source and campaign (once per deal).",
    ConversionArgs,
    agents={"lucy"},
    side_effect=True,
)
async def record_conversion(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str) -> dict[str, Any]:
    assert conn is not None
    row = await conn.fetchrow(
        """select d.id, d.lead_id, d.value_cents, l.source, l.campaign from deals d
           join leads l on l.tenant_id = d.tenant_id and l.id = d.lead_id
           where d.tenant_id = $1 and d.id = $2 and d.stage = 'won'""",
        ctx.tenant_id,
        args.deal_id,
    )
    if row is None:
        return {"ok": False, "summary": "Negociação não encontrada ou ainda não ganha."}
    await conn.execute(
        """insert into attributed_conversions (tenant_id, deal_id, lead_id, source, campaign, value_cents)
           values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, deal_id) do nothing""",
        ctx.tenant_id,
        row["id"],
        row["lead_id"],
        row["source"],
        row["campaign"],
        row["value_cents"],
    )
    # The lead is a customer now: nurture and retargeting must leave them alone.
    paused = await suppress_lead(conn, ctx.tenant_id, row["lead_id"], f"deal.won {row['id']}", None)
    return {
        "ok": True,
        "deal_id": str(row["id"]),
        "source": row["source"],
        "campaign": row["campaign"],
        "nurture_paused": paused,
        "summary": f"Conversão de {brl(row['value_cents'])} atribuída a {row['source'] or 'origem desconhecida'}"
        f" / {row['campaign'] or 'sem campanha'}; nutrição e retargeting pausados para este cliente.",
    }


# Clio ------------------------------------------------------------------------------------


class Variant(_Args):
    headline: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)
    source_ids: list[str] = Field(default_factory=list, max_length=10, description="chunk_ids the copy is based on")


class CreativeArgs(_Args):
    name: str = Field(min_length=1, max_length=200)
    audience: str = Field(min_length=1, max_length=200)
    angle: str = Field(min_length=1, max_length=200)
    campaign: str | None = Field(None, max_length=100)
    variants: list[Variant] = Field(min_length=1, max_length=6)


@tool(
    "create_creative_variants",
    "Store copy variants for one audience and angle as new versions of a creative, pending approval. "
    "Each variant must cite the knowledge passages (chunk_ids) it is based on.",
    CreativeArgs,
    agents={"clio"},
    side_effect=True,
)
async def create_creative_variants(
    ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str
) -> dict[str, Any]:
    assert conn is not None
    creative_id = await conn.fetchval(
        """select id from creatives where tenant_id = $1 and name = $2 and audience = $3 and angle = $4
           order by created_at limit 1""",
        ctx.tenant_id,
        args.name,
        args.audience,
        args.angle,
    )
    if creative_id is None:
        creative_id = await conn.fetchval(
            """insert into creatives (tenant_id, name, audience, angle, campaign) values ($1, $2, $3, $4, $5)
               returning id""",
            ctx.tenant_id,
            args.name,
            args.audience,
            args.angle,
            args.campaign,
        )
    versions = []
    for v in args.variants:
        row = await conn.fetchrow(
            """insert into creative_versions (tenant_id, creative_id, version, headline, body, sources, run_id)
               values ($1, $2, (select coalesce(max(version), 0) + 1 from creative_versions
                                where tenant_id = $1 and creative_id = $2), $3, $4, $5, $6)
               returning id, version, approval""",
            ctx.tenant_id,
            creative_id,
            v.headline,
            v.body,
            v.source_ids,
            ctx.run_id,
        )
        assert row is not None
        versions.append({"id": str(row["id"]), "version": row["version"], "approval": row["approval"]})
    return {
        "creative_id": str(creative_id),
        "versions": versions,
        "summary": f"{len(versions)} variante(s) salvas para {args.audience} / {args.angle}, aguardando aprovação.",
    }


class ListCreativesArgs(_Args):
    campaign: str | None = Field(None, max_length=100)
    limit: int = Field(20, ge=1, le=100)


@tool(
    "list_creatives",
    "Creatives with their latest version, approval state and status (winner or not).",
    ListCreativesArgs,
    agents={"clio", "lucy"},
    side_effect=False,
)
async def list_creatives(ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str) -> dict[str, Any]:
    assert conn is not None
    rows = await conn.fetch(
        """select c.id, c.name, c.audience, c.angle, c.campaign, c.status, c.deal_id,
                  (select count(*) from creative_versions v where v.tenant_id = c.tenant_id and v.creative_id = c.id)
                    as versions
           from creatives c where c.tenant_id = $1 and ($2::text is null or c.campaign = $2)
           order by c.created_at desc limit $3""",
        ctx.tenant_id,
        args.campaign,
        args.limit,
    )
    items = [dict(r) | {"id": str(r["id"]), "deal_id": str(r["deal_id"]) if r["deal_id"] else None} for r in rows]
    winners = sum(1 for i in items if i["status"] == "winner")
    return {"creatives": items, "summary": f"{len(items)} criativo(s), {winners} vencedor(es)."}


class WinnerArgs(_Args):
    deal_id: UUID


@tool(
    "mark_creative_winner",
    "Mark the winning creative of a won deal: the A/B arm with the most sales attributed to its ads (when the lead "
    "came from one), else the creative linked to the deal (meta creative_id) or to the lead's campaign.",
    WinnerArgs,
    agents={"clio"},
    side_effect=True,
)
async def mark_creative_winner(
    ctx: ToolContext, conn: asyncpg.Connection | None, args: Any, _key: str
) -> dict[str, Any]:
    assert conn is not None
    measured = await mark_winner_from_attribution(conn, ctx.tenant_id, args.deal_id)
    if measured is not None:  # the lead came from an ad of one of Clio's creatives: arms decide
        w = measured["winner"]
        return {
            "ok": True,
            "creative_id": str(measured["creative_id"]),
            "version": w["version"],
            "changed": measured["changed"],
            "summary": f"Versão {w['version']} vence o teste A/B ({w['sales']} venda(s) atribuída(s)).",
        }
    deal = await conn.fetchrow(
        """select d.id, d.meta->>'creative_id' as creative_id, l.campaign from deals d
           join leads l on l.tenant_id = d.tenant_id and l.id = d.lead_id where d.tenant_id = $1 and d.id = $2""",
        ctx.tenant_id,
        args.deal_id,
    )
    if deal is None:
        return {"ok": False, "summary": "Negociação não encontrada."}
    creative_id = None
    if deal["creative_id"]:
        creative_id = await conn.fetchval(
            "select id from creatives where tenant_id = $1 and id::text = $2", ctx.tenant_id, deal["creative_id"]
        )
    if creative_id is None and deal["campaign"]:
        creative_id = await conn.fetchval(
            "select id from creatives where tenant_id = $1 and campaign = $2 order by created_at desc limit 1",
            ctx.tenant_id,
            deal["campaign"],
        )
    if creative_id is None:
        return {"ok": False, "summary": "Nenhum criativo ligado a esta negociação."}
    await conn.execute(
        """update creatives set status = 'winner', deal_id = $3, updated_at = now()
           where tenant_id = $1 and id = $2""",
        ctx.tenant_id,
        creative_id,
        args.deal_id,
    )
    return {"ok": True, "creative_id": str(creative_id), "summary": "Criativo marcado como vencedor."}
