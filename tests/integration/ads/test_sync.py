"""Insights sync against the Meta ads sandbox (a real socket) into real Postgres: idempotent
upserts, restated days overwritten, the campaign mirror refreshed, rate limits retried, an
expired token failing the run clearly, and rules proposing once per day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest_asyncio

from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.ads import AdObject, AdSetSpec, AdsRegistry, CampaignSpec, CreativeSpec
from tools.ads.accounts import AdsDeps, provision
from tools.ads.meta import MetaAdsConnector
from tools.ads.meta.sandbox import running_sandbox
from tools.ads.sync import SyncOptions, sync_tenant
from tools.inbox.crypto import SecretBox

from ...conftest import MakeMember

TOKEN = "EAAB-sync-token"
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
TODAY = date(2026, 11, 20)


@dataclass
class Env:
    pool: asyncpg.Pool
    tenant: TenantId
    admin: httpx.AsyncClient
    deps: AdsDeps
    connector: MetaAdsConnector
    account_id: UUID
    external_id: str
    base_url: str
    sleeps: list[float]

    async def delivery(self, level: str, oid: str, day: date, **m: int) -> None:
        r = await self.admin.post(
            "/sandbox/delivery",
            json={"account": self.external_id, "level": level, "id": oid, "day": day.isoformat(), **m},
        )
        r.raise_for_status()

    async def fault(self, **body: Any) -> None:
        (await self.admin.post("/sandbox/faults", json=body)).raise_for_status()

    async def sync(self, **opts: Any) -> list[dict[str, Any]]:
        return await sync_tenant(
            self.pool,
            self.tenant,
            self.deps,
            options=SyncOptions(backoff_initial_s=0.01, **opts),
            now=NOW,
            sleep=self._sleep,
        )

    async def _sleep(self, s: float) -> None:
        self.sleeps.append(s)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with tenant_tx(self.pool, self.tenant) as conn:
            return list(await conn.fetch(sql, self.tenant, *args))

    async def view(self) -> Any:
        async with tenant_tx(self.pool, self.tenant) as conn:
            return await self.deps.account(conn, self.tenant, self.account_id)


@pytest_asyncio.fixture
async def env(app_pool: asyncpg.Pool, make_member: MakeMember, settings: Settings) -> AsyncIterator[Env]:
    member = await make_member()
    box = SecretBox(settings.channel_secrets_key)
    external_id = str(10**14 + int(member.tenant_id.int % 10**13))
    async with running_sandbox() as sb, httpx.AsyncClient(base_url=sb.base_url, timeout=10) as admin:
        r = await admin.post(
            "/sandbox/accounts", json={"ad_account_id": external_id, "access_token": TOKEN, "pixel_id": "555000111"}
        )
        r.raise_for_status()
        sleeps: list[float] = []

        async def fake_sleep(s: float) -> None:
            sleeps.append(s)

        async with httpx.AsyncClient(timeout=10) as http:
            connector = MetaAdsConnector(http, api_version="v21.0", sleep=fake_sleep)
            deps = AdsDeps(box, AdsRegistry([connector]))
            async with tenant_tx(app_pool, member.tenant_id) as conn:
                acc = await provision(
                    conn,
                    member.tenant_id,
                    box,
                    platform="meta",
                    external_id=external_id,
                    base_url=sb.base_url,
                    config={"page_id": "100200300", "pixel_id": "555000111"},
                    secrets={"access_token": TOKEN},
                )
            yield Env(app_pool, member.tenant_id, admin, deps, connector, acc["id"], external_id, sb.base_url, sleeps)


async def campaign_with_ad(env: Env, budget: int = 5_000) -> tuple[AdObject, AdObject]:
    account = await env.view()
    c = await env.connector.create_campaign(account, CampaignSpec(name="Pizza SP", daily_budget_minor=budget))
    assert isinstance(c, AdObject)
    adset = await env.connector.create_adset(account, AdSetSpec(campaign_external_id=c.external_id, name="SP"))
    assert isinstance(adset, AdObject)
    ad = await env.connector.create_ad(
        account,
        CreativeSpec(
            adset_external_id=adset.external_id,
            name="v1",
            headline="Pizza",
            body="Peça",
            link_url="https://example.com.br",
        ),
    )
    assert isinstance(ad, AdObject)
    await env.connector.set_status(account, "campaign", c.external_id, "active")
    await env.connector.set_status(account, "adset", adset.external_id, "active")
    await env.connector.set_status(account, "ad", ad.external_id, "active")
    return c, ad


METRICS_SQL = """select level, external_id, day, impressions, clicks, spend_minor, conversions, campaign_external_id
                 from ad_metrics_daily where tenant_id = $1 order by level, external_id, day"""


async def test_sync_twice_gives_the_same_rows_and_a_restated_day_overwrites(env: Env) -> None:
    c, ad = await campaign_with_ad(env)
    y = TODAY - timedelta(days=1)
    await env.delivery("ad", ad.external_id, y, impressions=1000, clicks=20, spend_minor=1_500, conversions=2)
    await env.delivery("ad", ad.external_id, TODAY, impressions=400, clicks=4, spend_minor=600)
    await env.delivery("ad", ad.external_id, TODAY - timedelta(days=5), impressions=9, clicks=9, spend_minor=9)
    [run] = await env.sync()
    assert run["status"] == "done", run
    assert (run["since"], run["until"], run["rows"]) == (TODAY - timedelta(days=2), TODAY, 4)
    first = [tuple(r) for r in await env.fetch(METRICS_SQL)]
    assert len(first) == 4  # 2 days x (campaign, ad); the day 5 days ago is outside the 3-day window
    assert ("ad", ad.external_id, y, 1000, 20, 1_500, 2, c.external_id) in first
    assert ("campaign", c.external_id, TODAY, 400, 4, 600, 0, c.external_id) in first

    [again] = await env.sync()
    assert again["status"] == "done" and again["id"] != run["id"]
    assert [tuple(r) for r in await env.fetch(METRICS_SQL)] == first  # same rows, nothing doubled

    await env.delivery("ad", ad.external_id, TODAY, impressions=800, clicks=8, spend_minor=1_100)  # restated
    await env.sync(backfill_days=5)
    rows = {(r["level"], r["day"]): r for r in await env.fetch(METRICS_SQL)}
    assert len(rows) == 6  # the backfill reached the day 5 days ago
    assert rows[("campaign", TODAY)]["spend_minor"] == 1_100 and rows[("ad", TODAY)]["impressions"] == 800
    [obj] = await env.fetch(
        "select status, daily_budget_minor, name from ad_objects where tenant_id = $1 and level = 'campaign'"
    )
    assert (obj["status"], obj["daily_budget_minor"], obj["name"]) == ("active", 5_000, "Pizza SP")
    runs = await env.fetch("select status, rows, finished_at from ad_sync_runs where tenant_id = $1")
    assert len(runs) == 3 and all(r["status"] == "done" and r["finished_at"] for r in runs)


async def test_rate_limits_are_retried_and_a_long_one_fails_the_run_clearly(env: Env) -> None:
    _, ad = await campaign_with_ad(env)
    await env.delivery("ad", ad.external_id, TODAY, impressions=10, clicks=1, spend_minor=100)
    await env.fault(operation="insights", kind="rate_limit", code=17, count=4, regain_minutes=0)
    [run] = await env.sync()
    assert run["status"] == "done" and run["rows"] == 2, run  # connector retries + one more round here
    await env.fault(operation="insights", kind="rate_limit", code=80004, count=10, regain_minutes=7)
    [run] = await env.sync()
    assert run["status"] == "failed" and "rate limited" in run["error"] and "retry after 420 s" in run["error"]
    assert max(env.sleeps) <= 30  # a 7-minute regain is surfaced, never slept through


async def test_a_refused_token_fails_the_run_without_raising(env: Env) -> None:
    async with tenant_tx(env.pool, env.tenant) as conn:
        await provision(
            conn,
            env.tenant,
            env.deps.box,
            platform="meta",
            external_id=env.external_id,
            base_url=env.base_url,
            secrets={"access_token": "EAAB-expired"},
        )
    [run] = await env.sync()
    assert run["status"] == "failed" and "re-provision" in run["error"], run
    assert run["finished_at"] is not None and run["rows"] == 0


async def test_rules_propose_once_per_day_through_the_guardrails(env: Env) -> None:
    c, ad = await campaign_with_ad(env)
    await env.delivery("ad", ad.external_id, TODAY, impressions=1000, clicks=10, spend_minor=4_000)  # 0 conversions
    async with tenant_tx(env.pool, env.tenant) as conn:
        rule_id = await conn.fetchval(
            """insert into ad_rules (tenant_id, name, kind, params) values
               ($1, 'stop loss', 'stop_loss', '{"metric": "cpa", "max_minor": 3000, "days": 3}') returning id""",
            env.tenant,
        )
        await conn.execute(
            """insert into ad_rules (tenant_id, name, kind, params) values
               ($1, 'broken', 'scale_up', '{"min_roas": "lots"}')""",
            env.tenant,
        )
    [run] = await env.sync()
    assert run["status"] == "done" and run["proposals"] == 1 and run["error"] is None, run
    [again] = await env.sync()
    assert again["proposals"] == 1  # the same (rule, campaign, day) key: the same change, not a new one
    changes = await env.fetch(
        "select kind, params, requested_by, status, object_id from ad_changes where tenant_id = $1"
    )
    assert len(changes) == 1
    ch = changes[0]
    assert (ch["kind"], ch["params"], ch["requested_by"]) == ("set_status", {"status": "paused"}, f"rule:{rule_id}")
    assert ch["status"] == "proposed"
    [obj] = await env.fetch("select id from ad_objects where tenant_id = $1 and external_id = $2", c.external_id)
    assert ch["object_id"] == obj["id"]


async def test_admin_sync_route_returns_runs_and_is_admin_only(
    env: Env, client: httpx.AsyncClient, make_member: MakeMember
) -> None:
    owner = await make_member("owner")
    r = await client.post("/admin/ads/sync", headers=owner.headers())
    assert r.status_code == 409 and r.json()["error"]["code"] == "ads_account_not_configured"
    r = await client.post(
        "/admin/ads/accounts",
        json={
            "platform": "meta",
            "external_id": env.external_id,
            "base_url": env.base_url,
            "config": {"page_id": "100200300", "pixel_id": "555000111"},
            "secrets": {"access_token": TOKEN},
        },
        headers=owner.headers(),
    )
    assert r.status_code in (200, 201), r.text
    _, ad = await campaign_with_ad(env)
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).date()
    await env.delivery("ad", ad.external_id, today, impressions=100, clicks=2, spend_minor=250)
    for _ in range(2):
        r = await client.post("/admin/ads/sync", json={"days": 2}, headers=owner.headers())
        assert r.status_code == 200, r.text
        [run] = r.json()["runs"]
        assert run["status"] == "done" and run["rows"] == 2 and run["since"] == (today - timedelta(days=1)).isoformat()
    async with tenant_tx(env.pool, owner.tenant_id) as conn:
        total = await conn.fetchval(
            "select sum(spend_minor) from ad_metrics_daily where tenant_id = $1 and level = 'campaign'", owner.tenant_id
        )
    assert total == 250  # twice synced, counted once
    kpi = await client.get("/metrics/kpi", params={"group_by": "campaign"}, headers=owner.headers())
    assert kpi.json()["totals"]["spend_minor"] == 250
    runs = (await client.get("/admin/ads/sync/runs", headers=owner.headers())).json()["runs"]
    assert len(runs) == 2
    assert (
        await client.post("/admin/ads/sync", json={"backfill_days": 1000}, headers=owner.headers())
    ).status_code == 422
    viewer = await make_member("member", slug=None)
    assert (await client.post("/admin/ads/sync", headers=viewer.headers())).status_code == 403
    # the other tenant (env's) never saw this tenant's sync
    assert await env.fetch("select id from ad_sync_runs where tenant_id = $1") == []


async def test_the_ray_task_body_syncs_with_its_own_pool_and_connectors(env: Env, settings: Settings) -> None:
    from serve.ads.sync_runtime import run_ads_sync  # the function ads_sync_task runs (no Ray here)

    _, ad = await campaign_with_ad(env)
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).date()
    await env.delivery("ad", ad.external_id, today, impressions=10, clicks=1, spend_minor=99)
    [run] = await run_ads_sync(settings, env.tenant, backfill_days=0)
    assert run["status"] == "done" and run["rows"] == 2 and run["until"] == today.isoformat()
    assert isinstance(run["id"], str)  # plain JSON types: it crosses a process boundary
