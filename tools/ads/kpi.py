"""Ad KPIs: platform spend mixed with our own leads, customers and revenue (``GET /metrics/kpi``).

One SQL statement (CTEs) per report, shared by the gateway route and Lucy's ``get_kpis``
tool, so both read the same numbers:

* **spend, impressions, clicks, platform conversions** — ``ad_metrics_daily`` (the insights
  sync): campaign-level rows for ``group_by=source|campaign``, ad-level rows joined to
  ``ad_objects.creative_version_id`` for ``group_by=creative``. ``day`` is the ad account's
  day (accounts default to America/Sao_Paulo).
* **leads** — leads *created* in the period, grouped by their ``lead_attribution`` (platform,
  campaign external id, the ad's creative version), falling back to ``leads.source`` /
  ``leads.campaign`` when a lead has no attribution.
* **customers** — leads whose *first* conversion falls in the period: the first paid payment
  (``tools.payments.status.PAID``: CONFIRMED, RECEIVED, RECEIVED_IN_CASH, DUNNING_RECEIVED) or
  the first won deal, whichever came first. A lead is a customer once, whenever it was created.
* **revenue** — paid payments whose ``paid_at`` is in the period (``value_cents``, else the
  invoice amount), attributed through the invoice's lead (or its deal's lead). Revenue of a
  payment with no lead lands in the unattributed group and in the totals.

The period is whole days in America/Sao_Paulo: ``[from 00:00, to + 1 day 00:00)`` local time.
Money is integer minor units (centavos) with the currency; ratios whose denominator is 0 are
``None`` (JSON null), never 0 and never an error. The totals row is the same statement's
grand total (``grouping sets``), so ROAS in the totals is blended: all revenue, organic
included, over all ad spend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal
from uuid import UUID

import asyncpg

from core.errors import ValidationFailed
from tools.payments.status import PAID

GroupBy = Literal["source", "campaign", "creative"]
GROUP_BYS: tuple[GroupBy, ...] = ("source", "campaign", "creative")
MAX_RANGE_DAYS = 366
KPI_TIMEZONE = "America/Sao_Paulo"
PAID_STATUSES: tuple[str, ...] = tuple(sorted(PAID))
PLATFORM_SQL = "('meta', 'google', 'tiktok')"


def validate_range(first: date, last: date, group_by: str) -> None:
    """400/422-worthy mistakes, with the field that is wrong."""
    if group_by not in GROUP_BYS:
        raise ValidationFailed(
            f"group_by must be one of {', '.join(GROUP_BYS)}",
            details=[{"loc": ["query", "group_by"], "msg": f"unknown group_by {group_by!r}"}],
        )
    if first > last:
        raise ValidationFailed(
            "'from' must be on or before 'to'", details=[{"loc": ["query", "from"], "msg": "after 'to'"}]
        )
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(
            f"the range is at most {MAX_RANGE_DAYS} days",
            details=[{"loc": ["query", "to"], "msg": f"{(last - first).days + 1} days asked"}],
        )


# -- pure math -------------------------------------------------------------------------------


def ratio(numerator: float, denominator: float, digits: int = 6) -> float | None:
    """``numerator / denominator`` rounded, or None when the denominator is 0."""
    if not denominator:
        return None
    return round(numerator / denominator, digits)


def money_ratio(minor: int, denominator: float, *, per: int = 1) -> int | None:
    """Minor units per unit of ``denominator`` (times ``per``), rounded half up; None on 0."""
    if not denominator:
        return None
    value = minor * per / float(denominator)
    return int(value + 0.5)


@dataclass(frozen=True, slots=True)
class KpiCounts:
    spend_minor: int = 0
    impressions: int = 0
    clicks: int = 0
    platform_conversions: float = 0.0
    leads: int = 0
    customers: int = 0
    revenue_minor: int = 0


def derived(c: KpiCounts) -> dict[str, Any]:
    """The ratios of one group: CTR, CPC, CPM, CPL, CPA, CAC, ROAS, conversion rate."""
    return {
        "ctr": ratio(c.clicks, c.impressions),
        "cpc_minor": money_ratio(c.spend_minor, c.clicks),
        "cpm_minor": money_ratio(c.spend_minor, c.impressions, per=1000),
        "cpl_minor": money_ratio(c.spend_minor, c.leads),
        "cpa_minor": money_ratio(c.spend_minor, c.platform_conversions),
        "cac_minor": money_ratio(c.spend_minor, c.customers),
        "roas": ratio(c.revenue_minor, c.spend_minor, 4),
        "conversion_rate": ratio(c.customers, c.leads, 4),
    }


# -- the statement ---------------------------------------------------------------------------

# Key expressions per group_by, chosen from this table (never from user text).
# Each yields (k_platform, k): the group's platform (null for non-ad sources) and its key.
_SPEND_LEVEL: dict[GroupBy, str] = {"source": "campaign", "campaign": "campaign", "creative": "ad"}
_SPEND_KEYS: dict[GroupBy, tuple[str, str]] = {
    "source": ("m.platform", "m.platform"),
    "campaign": ("m.platform", "m.external_id"),
    "creative": ("null::text", "o.creative_version_id::text"),
}
_LEAD_FALLBACK_PLATFORM = f"case when l.source in {PLATFORM_SQL} then l.source end"
_LEAD_KEYS: dict[GroupBy, tuple[str, str]] = {
    "source": (f"coalesce(la.platform, {_LEAD_FALLBACK_PLATFORM})", "coalesce(la.platform, l.source)"),
    "campaign": (
        f"case when la.campaign_external_id is not null then la.platform else {_LEAD_FALLBACK_PLATFORM} end",
        "coalesce(la.campaign_external_id, l.campaign)",
    ),
    "creative": ("null::text", "o.creative_version_id::text"),
}
_LABELS: dict[GroupBy, str] = {
    "source": "null::text",
    "campaign": """(select o.name from ad_objects o where o.tenant_id = $1 and o.level = 'campaign'
                     and o.platform = g.k_platform and o.external_id = g.k order by o.updated_at desc limit 1)""",
    "creative": """(select c.name || ' v' || v.version from creative_versions v
                     join creatives c on c.tenant_id = v.tenant_id and c.id = v.creative_id
                     where v.tenant_id = $1 and v.id = g.k::uuid)""",
}


def kpi_sql(group_by: GroupBy) -> str:
    """The report statement for ``group_by``. Parameters: $1 tenant, $2 from, $3 to (dates),
    $4 paid statuses (text[])."""
    level = _SPEND_LEVEL[group_by]
    sp, sk = _SPEND_KEYS[group_by]
    lp, lk = _LEAD_KEYS[group_by]
    ad_join_spend = (
        """left join ad_objects o on o.tenant_id = m.tenant_id and o.account_id = m.account_id
                   and o.level = 'ad' and o.external_id = m.external_id"""
        if group_by == "creative"
        else ""
    )
    ad_join_lead = (
        """left join ad_objects o on o.tenant_id = $1 and o.platform = la.platform and o.level = 'ad'
                   and o.external_id = la.ad_external_id"""
        if group_by == "creative"
        else ""
    )
    return f"""
with bounds as (
    select ($2::date)::timestamp at time zone '{KPI_TIMEZONE}' as t0,
           ($3::date + 1)::timestamp at time zone '{KPI_TIMEZONE}' as t1
),
spend as (
    select {sp} as k_platform, {sk} as k,
           sum(m.spend_minor)::bigint as spend_minor, sum(m.impressions)::bigint as impressions,
           sum(m.clicks)::bigint as clicks, sum(m.conversions)::numeric as platform_conversions,
           min(m.currency) as currency_min, max(m.currency) as currency_max
    from ad_metrics_daily m {ad_join_spend}
    where m.tenant_id = $1 and m.level = '{level}' and m.day between $2::date and $3::date
    group by 1, 2
),
paid as (
    select coalesce(i.lead_id, d.lead_id) as lead_id,
           coalesce(p.value_cents, i.amount_cents) as value_minor,
           coalesce(p.paid_at, p.occurred_at) as paid_at
    from payments p
    join invoices i on i.tenant_id = p.tenant_id and i.id = p.invoice_id
    left join deals d on d.tenant_id = i.tenant_id and d.id = i.deal_id
    where p.tenant_id = $1 and p.status = any($4::text[])
),
first_conversion as (
    select lead_id, min(at) as at from (
        select lead_id, paid_at as at from paid where lead_id is not null
        union all
        select lead_id, won_at from deals where tenant_id = $1 and stage = 'won' and won_at is not null
    ) x group by lead_id
),
customers as (
    select f.lead_id from first_conversion f, bounds b where f.at >= b.t0 and f.at < b.t1
),
revenue as (
    select p.lead_id, sum(p.value_minor)::bigint as revenue_minor
    from paid p, bounds b where p.paid_at >= b.t0 and p.paid_at < b.t1 group by p.lead_id
),
people as (
    select l.id as lead_id, l.created_at >= b.t0 and l.created_at < b.t1 as new_lead
    from leads l, bounds b
    where l.tenant_id = $1 and (
        (l.created_at >= b.t0 and l.created_at < b.t1)
        or l.id in (select lead_id from customers)
        or l.id in (select lead_id from revenue where lead_id is not null))
),
funnel as (
    select {lp} as k_platform, {lk} as k,
           count(*) filter (where pe.new_lead) as leads,
           count(c.lead_id) as customers,
           coalesce(sum(r.revenue_minor), 0)::bigint as revenue_minor
    from people pe
    join leads l on l.tenant_id = $1 and l.id = pe.lead_id
    left join lead_attribution la on la.tenant_id = $1 and la.lead_id = pe.lead_id
    {ad_join_lead}
    left join customers c on c.lead_id = pe.lead_id
    left join revenue r on r.lead_id = pe.lead_id
    group by 1, 2
    union all
    select null, null, 0, 0, revenue_minor from revenue where lead_id is null
),
g as (
    select k_platform, k, spend_minor, impressions, clicks, platform_conversions,
           0::bigint as leads, 0::bigint as customers, 0::bigint as revenue_minor, currency_min, currency_max
    from spend
    union all
    select k_platform, k, 0, 0, 0, 0, leads, customers, revenue_minor, null, null from funnel
)
select grouping(g.k_platform, g.k) = 3 as is_total, g.k_platform, g.k,
       {_LABELS[group_by]} as label,
       coalesce(sum(g.spend_minor), 0)::bigint as spend_minor,
       coalesce(sum(g.impressions), 0)::bigint as impressions,
       coalesce(sum(g.clicks), 0)::bigint as clicks,
       coalesce(sum(g.platform_conversions), 0)::float8 as platform_conversions,
       coalesce(sum(g.leads), 0)::bigint as leads,
       coalesce(sum(g.customers), 0)::bigint as customers,
       coalesce(sum(g.revenue_minor), 0)::bigint as revenue_minor,
       min(g.currency_min) as currency_min, max(g.currency_max) as currency_max
from g
group by grouping sets ((g.k_platform, g.k), ())
order by is_total, spend_minor desc, leads desc, g.k_platform nulls last, g.k nulls last
"""


def _row(r: asyncpg.Record, group_by: GroupBy, currency: str) -> dict[str, Any]:
    counts = KpiCounts(
        spend_minor=int(r["spend_minor"]),
        impressions=int(r["impressions"]),
        clicks=int(r["clicks"]),
        platform_conversions=float(r["platform_conversions"]),
        leads=int(r["leads"]),
        customers=int(r["customers"]),
        revenue_minor=int(r["revenue_minor"]),
    )
    return {
        "key": r["k"],
        "platform": r["k_platform"],
        "label": r["label"],
        **asdict(counts),
        "currency": currency,
        **derived(counts),
    }


async def kpi_report(
    conn: asyncpg.Connection, tenant_id: UUID, first: date, last: date, group_by: GroupBy
) -> dict[str, Any]:
    """The KPI report of one tenant (``conn`` inside that tenant's transaction)."""
    validate_range(first, last, group_by)
    records = await conn.fetch(kpi_sql(group_by), tenant_id, first, last, list(PAID_STATUSES))
    currencies = {c for r in records for c in (r["currency_min"], r["currency_max"]) if c}
    currency = "BRL" if not currencies else min(currencies)
    warnings = []
    if currencies - {"BRL"} or len(currencies) > 1:
        warnings.append(f"ad spend is in {', '.join(sorted(currencies))}; revenue is in BRL: ratios mix currencies")
    groups = [_row(r, group_by, currency) for r in records if not r["is_total"]]
    total_rec = next((r for r in records if r["is_total"]), None)
    totals = _row(total_rec, group_by, currency) if total_rec is not None else _row_empty(currency)
    totals["key"] = None
    return {
        "from": first,
        "to": last,
        "group_by": group_by,
        "timezone": KPI_TIMEZONE,
        "currency": currency,
        "groups": groups,
        "totals": totals,
        "warnings": warnings,
    }


def _row_empty(currency: str) -> dict[str, Any]:
    counts = KpiCounts()
    return {"key": None, "platform": None, "label": None, **asdict(counts), "currency": currency, **derived(counts)}


__all__ = [
    "GROUP_BYS",
    "KPI_TIMEZONE",
    "MAX_RANGE_DAYS",
    "PAID_STATUSES",
    "GroupBy",
    "KpiCounts",
    "derived",
    "kpi_report",
    "kpi_sql",
    "money_ratio",
    "ratio",
    "validate_range",
]
