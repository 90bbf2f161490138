"""Clio's creatives on the ad platforms: approved versions published as PAUSED ads, A/B arms
measured from insights and attribution, the winner marked from real sales.

* ``publish_approved_version`` (the ads worker, on ``creative.approved``): the version goes
  through the change queue (``tools.ads.changes.submit_change``, kind ``publish_creative``,
  idempotency key ``publish:<version id>``, requested by ``agent:clio``) — a PAUSED create,
  so it applies without approval; going live is a ``set_status`` a person approves. The
  target is the creative's ``meta.ads`` (``adset_external_id``, ``link_url``, optional
  ``platform``), else the first ad set of the ad campaign named (or id'd) by the creative's
  ``campaign``; without a target or a link the version is not published and
  ``creative.publish_skipped`` says why. The published ad is mirrored in ``ad_objects``
  with its ``creative_version_id``.
* ``arms``: each version of a creative is an arm: its ads' impressions, clicks and spend
  from ``ad_metrics_daily`` (level ``ad``), and its sales — won deals of leads whose first
  touch is one of its ads (``lead_attribution``) — give CTR, CPA and revenue.
* ``mark_winner_from_attribution`` (Clio's reaction to ``deal.won``): the creative whose ad
  brought the deal's lead is the one measured; the arm with the most attributed sales (then
  the lower CPA, then the higher CTR) is the winner. ``creative.winner_marked`` is emitted
  only when the winner changes, so a redelivered event changes nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from core.tenancy import TenantId
from db.events import emit

from .accounts import AdsDeps
from .changes import submit_change


async def _target(conn: asyncpg.Connection, tenant_id: TenantId, creative: asyncpg.Record) -> dict[str, Any] | str:
    meta = dict(creative["meta"] or {})
    found = meta.get("ads")
    ads: dict[str, Any] = found if isinstance(found, dict) else {}
    link = ads.get("link_url") or meta.get("link_url")
    adset_id = ads.get("adset_external_id")
    params: tuple[Any, ...]
    if adset_id:
        sql = """select account_id, platform, external_id from ad_objects
                 where tenant_id = $1 and level = 'adset' and external_id = $2 and ($3::text is null or platform = $3)
                 order by created_at limit 1"""
        params = (tenant_id, str(adset_id), ads.get("platform"))
    elif creative["campaign"]:
        sql = """select s.account_id, s.platform, s.external_id from ad_objects c
                 join ad_objects s on s.tenant_id = c.tenant_id and s.account_id = c.account_id and s.level = 'adset'
                      and s.parent_external_id = c.external_id
                 where c.tenant_id = $1 and c.level = 'campaign' and (c.external_id = $2 or c.name = $2)
                 order by s.created_at limit 1"""
        params = (tenant_id, creative["campaign"])
    else:
        return "the creative names no ad set (meta.ads.adset_external_id) and no campaign"
    row = await conn.fetchrow(sql, *params)
    if row is None:
        return "no ad set of ours matches the creative's target"
    if not link:
        return "the creative has no link_url (meta.ads.link_url) for the ad"
    return {"account_id": row["account_id"], "platform": row["platform"], "adset": row["external_id"], "link": link}


async def publish_approved_version(
    conn: asyncpg.Connection, tenant_id: TenantId, payload: dict[str, Any], *, deps: AdsDeps
) -> dict[str, Any] | None:
    """Publish the approved version of a ``creative.approved`` event (see module doc)."""
    creative_id, version = UUID(str(payload["creative_id"])), int(payload["version"])
    row = await conn.fetchrow(
        """select c.id, c.name, c.campaign, c.meta, v.id as version_id, v.headline, v.body, v.approval
           from creatives c join creative_versions v on v.tenant_id = c.tenant_id and v.creative_id = c.id
           where c.tenant_id = $1 and c.id = $2 and v.version = $3""",
        tenant_id,
        creative_id,
        version,
    )
    if row is None or row["approval"] != "approved":
        return None
    target = await _target(conn, tenant_id, row)
    base = {"creative_id": str(creative_id), "version": version, "version_id": str(row["version_id"])}
    if isinstance(target, str):
        await emit(conn, tenant_id, "creative.publish_skipped", {**base, "reason": target})
        return None
    change = await submit_change(
        conn,
        tenant_id,
        deps=deps,
        account_id=target["account_id"],
        kind="publish_creative",
        params={
            "adset_external_id": target["adset"],
            "name": f"{row['name']} v{version}"[:200],
            "headline": row["headline"][:255],
            "body": row["body"][:2000],
            "link_url": target["link"],
            "creative_version_id": str(row["version_id"]),
        },
        requested_by="agent:clio",
        idempotency_key=f"publish:{row['version_id']}",
    )
    if not change.get("replayed"):
        await emit(
            conn,
            tenant_id,
            "creative.published",
            {**base, "change_id": str(change["id"]), "status": change["status"], "platform": target["platform"]},
        )
    return change


async def arms(conn: asyncpg.Connection, tenant_id: TenantId, creative_id: UUID) -> list[dict[str, Any]]:
    """Each version of the creative as an A/B arm (see module doc); CTR and CPA are None
    where there is nothing to divide by."""
    rows = await conn.fetch(
        """with ads as (
               select v.id as version_id, v.version, o.platform, o.external_id
               from creative_versions v
               left join ad_objects o on o.tenant_id = v.tenant_id and o.creative_version_id = v.id and o.level = 'ad'
               where v.tenant_id = $1 and v.creative_id = $2),
           metrics as (
               select a.version_id, sum(m.impressions) as impressions, sum(m.clicks) as clicks,
                      sum(m.spend_minor) as spend_minor
               from ads a join ad_metrics_daily m on m.tenant_id = $1 and m.level = 'ad'
                    and m.platform = a.platform and m.external_id = a.external_id
               group by a.version_id),
           sales as (
               select a.version_id, count(distinct d.id) as sales, sum(d.value_cents) as revenue_minor
               from ads a
               join lead_attribution la on la.tenant_id = $1 and la.platform = a.platform
                    and la.ad_external_id = a.external_id
               join deals d on d.tenant_id = $1 and d.lead_id = la.lead_id and d.stage = 'won'
               group by a.version_id)
           select v.id as version_id, v.version,
                  array_remove(array_agg(distinct a.external_id), null) as ads,
                  coalesce(max(m.impressions), 0)::bigint as impressions, coalesce(max(m.clicks), 0)::bigint as clicks,
                  coalesce(max(m.spend_minor), 0)::bigint as spend_minor, coalesce(max(s.sales), 0)::bigint as sales,
                  coalesce(max(s.revenue_minor), 0)::bigint as revenue_minor
           from creative_versions v
           left join ads a on a.version_id = v.id
           left join metrics m on m.version_id = v.id
           left join sales s on s.version_id = v.id
           where v.tenant_id = $1 and v.creative_id = $2
           group by v.id, v.version order by v.version""",
        tenant_id,
        creative_id,
    )
    out = []
    for r in rows:
        arm = dict(r)
        arm["ctr"] = round(r["clicks"] / r["impressions"], 6) if r["impressions"] else None
        arm["cpa_minor"] = r["spend_minor"] // r["sales"] if r["sales"] else None
        out.append(arm)
    return out


def pick_winner(measured: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The arm with the most sales; ties: lower CPA, then higher CTR, then the older version."""
    sold = [a for a in measured if a["sales"] > 0]
    if not sold:
        return None
    return min(
        sold,
        key=lambda a: (
            -a["sales"],
            a["cpa_minor"] if a["cpa_minor"] is not None else 0,
            -(a["ctr"] or 0.0),
            a["version"],
        ),
    )


async def mark_winner_from_attribution(
    conn: asyncpg.Connection, tenant_id: TenantId, deal_id: UUID
) -> dict[str, Any] | None:
    """Mark the winning arm of the creative whose ad brought the deal's lead (None when the
    lead came from no ad of a creative of ours)."""
    creative_id = await conn.fetchval(
        """select v.creative_id from deals d
           join lead_attribution la on la.tenant_id = d.tenant_id and la.lead_id = d.lead_id
           join ad_objects o on o.tenant_id = d.tenant_id and o.level = 'ad' and o.platform = la.platform
                and o.external_id = la.ad_external_id
           join creative_versions v on v.tenant_id = d.tenant_id and v.id = o.creative_version_id
           where d.tenant_id = $1 and d.id = $2 limit 1""",
        tenant_id,
        deal_id,
    )
    if creative_id is None:
        return None
    measured = await arms(conn, tenant_id, creative_id)
    winner = pick_winner(measured)
    if winner is None:
        return None
    current = await conn.fetchrow(
        "select status, meta->>'winner_version' as v from creatives where tenant_id = $1 and id = $2 for update",
        tenant_id,
        creative_id,
    )
    changed = current is None or current["status"] != "winner" or current["v"] != str(winner["version"])
    if changed:
        await conn.execute(
            """update creatives set status = 'winner', deal_id = $3, updated_at = now(),
                      meta = meta || jsonb_build_object('winner_version', $4::int, 'winner_version_id', $5::text)
               where tenant_id = $1 and id = $2""",
            tenant_id,
            creative_id,
            deal_id,
            winner["version"],
            str(winner["version_id"]),
        )
        await emit(
            conn,
            tenant_id,
            "creative.winner_marked",
            {
                "creative_id": str(creative_id),
                "version": winner["version"],
                "sales": winner["sales"],
                "deal_id": str(deal_id),
            },
        )
    return {"creative_id": creative_id, "winner": winner, "arms": measured, "changed": changed}


__all__ = ["arms", "mark_winner_from_attribution", "pick_winner", "publish_approved_version"]
