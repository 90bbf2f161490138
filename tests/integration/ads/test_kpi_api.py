"""``GET /metrics/kpi`` against a small fixture whose numbers are computed by hand below:
ad spend per day, leads created either side of a São Paulo midnight, a first payment in the
period and one before it, a won deal without payment, a payment with no lead, a pending
payment, and a second tenant whose numbers must never show up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from core.tenancy import TenantId
from db.pool import tenant_tx

from ...conftest import MakeMember, Member

SP = timedelta(hours=-3)  # America/Sao_Paulo has no DST since 2019


def sp(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    """A São Paulo wall-clock time as an aware UTC datetime."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC) - SP


class Fixture:
    def __init__(self, conn: asyncpg.Connection, tenant_id: UUID) -> None:
        self.conn, self.t = conn, tenant_id

    async def account(self, platform: str, ext: str) -> UUID:
        v: UUID = await self.conn.fetchval(
            """insert into ad_accounts (tenant_id, platform, external_id, secrets) values ($1, $2, $3, '\\x00')
               returning id""",
            self.t,
            platform,
            ext,
        )
        return v

    async def obj(self, acc: UUID, platform: str, level: str, ext: str, name: str = "", cv: UUID | None = None) -> None:
        await self.conn.execute(
            """insert into ad_objects (tenant_id, account_id, platform, level, external_id, name, status,
                                       creative_version_id) values ($1, $2, $3, $4, $5, $6, 'active', $7)""",
            self.t,
            acc,
            platform,
            level,
            ext,
            name,
            cv,
        )

    async def metric(
        self,
        acc: UUID,
        platform: str,
        level: str,
        ext: str,
        day: date,
        imp: int,
        clicks: int,
        spend: int,
        conv: float = 0,
        campaign: str | None = None,
    ) -> None:
        await self.conn.execute(
            """insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, campaign_external_id,
                   day, impressions, clicks, spend_minor, conversions) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)""",
            self.t,
            acc,
            platform,
            level,
            ext,
            campaign,
            day,
            imp,
            clicks,
            spend,
            conv,
        )

    async def lead(
        self,
        created: datetime,
        *,
        source: str | None = None,
        campaign: str | None = None,
        attr: tuple[str, str | None, str | None] | None = None,
    ) -> UUID:
        lid: UUID = await self.conn.fetchval(
            """insert into leads (tenant_id, name, source, campaign, created_at)
               values ($1, 'x', $2, $3, $4) returning id""",
            self.t,
            source,
            campaign,
            created,
        )
        if attr:
            await self.conn.execute(
                """insert into lead_attribution (tenant_id, lead_id, platform, campaign_external_id, ad_external_id)
                   values ($1, $2, $3, $4, $5)""",
                self.t,
                lid,
                *attr,
            )
        return lid

    async def payment(self, lead: UUID | None, value: int, paid_at: datetime, status: str = "RECEIVED") -> None:
        inv = await self.conn.fetchval(
            """insert into invoices (tenant_id, lead_id, amount_cents, status)
               values ($1, $2, $3, 'PENDING') returning id""",
            self.t,
            lead,
            value,
        )
        await self.conn.execute(
            """insert into payments (tenant_id, invoice_id, status, value_cents, paid_at, occurred_at)
               values ($1, $2, $3, $4, $5, $6)""",
            self.t,
            inv,
            status,
            value,
            paid_at if status != "PENDING" else None,
            paid_at,
        )

    async def won(self, lead: UUID, at: datetime) -> None:
        await self.conn.execute(
            "insert into deals (tenant_id, lead_id, stage, won_at, value_cents) values ($1, $2, 'won', $3, 1)",
            self.t,
            lead,
            at,
        )


async def seed(pool: asyncpg.Pool, tenant_id: TenantId, scale: int = 1) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        f = Fixture(conn, tenant_id)
        cid = await conn.fetchval(
            "insert into creatives (tenant_id, name, audience, angle) values ($1, 'Oferta', 'a', 'b') returning id",
            tenant_id,
        )
        cv = await conn.fetchval(
            """insert into creative_versions (tenant_id, creative_id, version, headline, body)
               values ($1, $2, 1, 'h', 'b') returning id""",
            tenant_id,
            cid,
        )
        meta = await f.account("meta", "act_1")
        google = await f.account("google", "123")
        await f.obj(meta, "meta", "campaign", "c1", "Black Friday")
        await f.obj(meta, "meta", "ad", "a1", "ad 1", cv)
        await f.obj(meta, "meta", "ad", "a2", "ad 2")
        await f.obj(google, "google", "campaign", "c2", "Search")
        await f.metric(meta, "meta", "campaign", "c1", date(2026, 10, 31), 9, 9, 99_999 * scale)  # before the period
        await f.metric(meta, "meta", "campaign", "c1", date(2026, 11, 1), 1000, 50, 10_000 * scale, 2)
        await f.metric(meta, "meta", "campaign", "c1", date(2026, 11, 7), 1000, 30, 5_000 * scale, 1)
        await f.metric(meta, "meta", "ad", "a1", date(2026, 11, 1), 600, 30, 6_000 * scale, 2, "c1")
        await f.metric(meta, "meta", "ad", "a2", date(2026, 11, 1), 400, 20, 4_000 * scale, 0, "c1")
        await f.metric(meta, "meta", "ad", "a1", date(2026, 11, 7), 1000, 30, 5_000 * scale, 1, "c1")
        await f.metric(google, "google", "campaign", "c2", date(2026, 11, 3), 2000, 40, 8_000 * scale, 0)
        l1 = await f.lead(sp(2026, 11, 1, 10), attr=("meta", "c1", "a1"))
        await f.payment(l1, 20_000, sp(2026, 11, 2))
        await f.lead(sp(2026, 11, 7, 23, 30), attr=("meta", "c1", "a2"))  # 02:30 UTC on the 8th: still in
        await f.lead(sp(2026, 11, 8, 0, 30), attr=("meta", "c1", "a1"))  # next São Paulo day: out
        l4 = await f.lead(sp(2026, 10, 20), attr=("google", "c2", None))  # old lead, first payment in the period
        await f.payment(l4, 15_000, sp(2026, 11, 5))
        l5 = await f.lead(sp(2026, 11, 3), source="instagram")  # organic, won deal without payment
        await f.won(l5, sp(2026, 11, 4))
        l6 = await f.lead(sp(2026, 11, 2), source="meta", campaign="c1")  # no attribution: falls back
        await f.payment(l6, 5_000, sp(2026, 11, 3), status="PENDING")
        l7 = await f.lead(sp(2026, 10, 1), attr=("tiktok", "t1", None))  # customer since October
        await f.payment(l7, 7_000, sp(2026, 10, 10))
        await f.payment(l7, 10_000, sp(2026, 11, 3))
        await f.payment(None, 3_000, sp(2026, 11, 4))  # no lead: unattributed revenue


@pytest.fixture(scope="module")
async def tenants(make_member: MakeMember, app_pool: asyncpg.Pool) -> tuple[Member, Member]:
    a, b = await make_member("member"), await make_member("owner")
    await seed(app_pool, a.tenant_id)
    await seed(app_pool, b.tenant_id, scale=7)  # other numbers: a leak would show
    return a, b


async def kpi(client: httpx.AsyncClient, m: Member, **params: str) -> dict[str, Any]:
    r = await client.get(
        "/metrics/kpi", params={"from": "2026-11-01", "to": "2026-11-07", **params}, headers=m.headers()
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def by_key(body: dict[str, Any]) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    return {(g["platform"], g["key"]): g for g in body["groups"]}


async def test_by_source_matches_hand_computation(client: httpx.AsyncClient, tenants: tuple[Member, Member]) -> None:
    body = await kpi(client, tenants[0], group_by="source")
    assert body["from"] == "2026-11-01" and body["timezone"] == "America/Sao_Paulo" and body["currency"] == "BRL"
    g = by_key(body)
    meta = g[("meta", "meta")]
    assert (meta["spend_minor"], meta["impressions"], meta["clicks"], meta["platform_conversions"]) == (
        15_000,
        2000,
        80,
        3,
    )
    assert (meta["leads"], meta["customers"], meta["revenue_minor"]) == (3, 1, 20_000)  # L1, L2, L6 (fallback)
    assert meta["ctr"] == 0.04 and meta["cpc_minor"] == 188 and meta["cpm_minor"] == 7_500
    assert meta["cpl_minor"] == 5_000 and meta["cpa_minor"] == 5_000 and meta["cac_minor"] == 15_000
    assert meta["roas"] == 1.3333 and meta["conversion_rate"] == 0.3333
    google = g[("google", "google")]
    assert (google["spend_minor"], google["leads"], google["customers"], google["revenue_minor"]) == (
        8_000,
        0,
        1,
        15_000,
    )
    assert google["cpl_minor"] is None and google["conversion_rate"] is None and google["cpa_minor"] is None
    assert google["roas"] == 1.875 and google["cac_minor"] == 8_000
    insta = g[(None, "instagram")]
    assert (insta["leads"], insta["customers"], insta["spend_minor"], insta["roas"]) == (1, 1, 0, None)
    assert g[("tiktok", "tiktok")]["revenue_minor"] == 10_000 and g[("tiktok", "tiktok")]["customers"] == 0
    assert g[(None, None)]["revenue_minor"] == 3_000
    t = body["totals"]
    assert (t["spend_minor"], t["impressions"], t["clicks"], t["leads"], t["customers"], t["revenue_minor"]) == (
        23_000,
        4000,
        120,
        4,
        3,
        48_000,
    )
    assert t["roas"] == 2.087 and t["conversion_rate"] == 0.75 and t["cac_minor"] == 7_667 and t["cpl_minor"] == 5_750


async def test_by_campaign_and_creative(client: httpx.AsyncClient, tenants: tuple[Member, Member]) -> None:
    g = by_key(await kpi(client, tenants[0], group_by="campaign"))
    c1 = g[("meta", "c1")]
    assert (c1["label"], c1["spend_minor"], c1["leads"], c1["customers"], c1["revenue_minor"]) == (
        "Black Friday",
        15_000,
        3,
        1,
        20_000,
    )
    assert g[("google", "c2")]["label"] == "Search" and g[("google", "c2")]["revenue_minor"] == 15_000
    assert (g[(None, None)]["leads"], g[(None, None)]["revenue_minor"]) == (1, 3_000)
    body = await kpi(client, tenants[0], group_by="creative")
    g = by_key(body)
    [v1] = [v for k, v in g.items() if k[1] is not None]
    assert v1["label"] == "Oferta v1"
    assert (v1["spend_minor"], v1["impressions"], v1["clicks"], v1["platform_conversions"]) == (11_000, 1600, 60, 3)
    assert (v1["leads"], v1["customers"], v1["revenue_minor"], v1["cpl_minor"]) == (1, 1, 20_000, 11_000)
    none = g[(None, None)]
    assert (none["spend_minor"], none["leads"], none["customers"], none["revenue_minor"]) == (4_000, 3, 2, 28_000)
    assert body["totals"]["spend_minor"] == 15_000 and body["totals"]["leads"] == 4


async def test_tenant_isolation(client: httpx.AsyncClient, tenants: tuple[Member, Member]) -> None:
    a, b = tenants
    tb = (await kpi(client, b))["totals"]
    assert (tb["spend_minor"], tb["leads"], tb["revenue_minor"]) == (23_000 * 7, 4, 48_000)
    r = await client.get("/metrics/kpi", headers={**a.headers(), "X-Tenant-Id": b.slug})
    assert r.status_code == 403, r.text


async def test_empty_period_is_nulls_not_errors(client: httpx.AsyncClient, tenants: tuple[Member, Member]) -> None:
    r = await client.get(
        "/metrics/kpi", params={"from": "2020-01-01", "to": "2020-01-31"}, headers=tenants[0].headers()
    )
    assert r.status_code == 200
    body = r.json()
    assert body["groups"] == [] and body["totals"]["spend_minor"] == 0 and body["totals"]["roas"] is None


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"from": "2026-11-08", "to": "2026-11-01"}, 422, "on or before"),
        ({"from": "2024-01-01", "to": "2026-11-01"}, 422, "at most 366"),
        ({"group_by": "adset"}, 422, "group_by"),
        ({"from": "2026-13-01"}, 422, "from"),
        ({"to": "yesterday"}, 422, "to"),
    ],
)
async def test_bad_params_are_clear_4xx(
    client: httpx.AsyncClient, tenants: tuple[Member, Member], params: dict[str, str], status: int, needle: str
) -> None:
    r = await client.get("/metrics/kpi", params=params, headers=tenants[0].headers())
    assert r.status_code == status, r.text
    assert needle in r.text
    r = await client.get("/metrics/kpi")
    assert r.status_code == 401


async def test_lucys_get_kpis_reads_the_same_numbers(client: httpx.AsyncClient, tenants: tuple[Member, Member]) -> None:
    b = tenants[1]  # an owner: may invoke tools
    days = (date.today() - date(2026, 11, 1)).days + 1
    r = await client.post(
        "/agents/tools/get_kpis/invoke",
        json={"agent": "lucy", "args": {"group_by": "campaign", "days": min(days, 366)}},
        headers=b.headers(),
    )
    assert r.status_code == 200, r.text
    tool = r.json()["result"]
    route = await kpi(client, b, **{"from": tool["from"], "to": tool["to"], "group_by": "campaign"})
    assert tool["totals"] == route["totals"]
    assert [(g["platform"], g["key"], g["spend_minor"], g["leads"]) for g in tool["groups"]] == [
        (g["platform"], g["key"], g["spend_minor"], g["leads"]) for g in route["groups"]
    ]
    assert "Black Friday: " in tool["summary"] and "investimento R$" in tool["summary"]
