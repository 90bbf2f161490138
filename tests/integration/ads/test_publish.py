"""Clio's approved creative versions published as PAUSED ads through the change queue (the
Meta ads sandbox on a real socket), and the A/B winner marked from real attribution, once."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from core.events import Event
from core.settings import Settings
from core.tenancy import TenantId
from db import crm
from db.creatives import decide_version
from db.pool import tenant_tx
from tools.ads import AdsRegistry
from tools.ads.accounts import AdsDeps, provision
from tools.ads.changes import submit_change
from tools.ads.meta import MetaAdsConnector
from tools.ads.meta.sandbox import running_sandbox
from tools.ads.publish import arms, mark_winner_from_attribution
from tools.ads.worker import AdsWorker
from tools.inbox import SecretBox

from ...ads_support import rows
from ...conftest import MakeMember

pytestmark = pytest.mark.asyncio(loop_scope="session")
TOKEN = "EAAB-sandbox-token-publish"


@dataclass
class Env:
    pool: asyncpg.Pool
    tenant: TenantId
    deps: AdsDeps
    admin: httpx.AsyncClient
    ad_account: str
    account_id: UUID
    adset: str

    async def creative(self, versions: int, **meta: Any) -> UUID:
        async with tenant_tx(self.pool, self.tenant) as conn:
            cid = await conn.fetchval(
                """insert into creatives (tenant_id, name, audience, angle, campaign, meta)
                   values ($1, 'Black Friday', 'mães', 'frete', null, $2) returning id""",
                self.tenant,
                meta,
            )
            for v in range(1, versions + 1):
                await conn.execute(
                    """insert into creative_versions (tenant_id, creative_id, version, headline, body)
                       values ($1, $2, $3, $4, $5)""",
                    self.tenant,
                    cid,
                    v,
                    f"Frete grátis v{v}",
                    f"Só hoje, versão {v}.",
                )
        return UUID(str(cid))

    async def approve(self, worker: AdsWorker, creative: UUID, version: int) -> None:
        """A person approves; the ads worker handles the creative.approved it emitted."""
        async with tenant_tx(self.pool, self.tenant) as conn:
            await decide_version(conn, self.tenant, creative, version, "approved", by="member:u1")
            ev = await conn.fetchrow(
                """select id, payload, created_at from event_log where tenant_id = $1 and type = 'creative.approved'
                   and payload->>'creative_id' = $2 and (payload->>'version')::int = $3""",
                self.tenant,
                str(creative),
                version,
            )
        event = Event(
            id=ev["id"], tenant_id=self.tenant, type="creative.approved", payload=ev["payload"],
            created_at=ev["created_at"],
        )  # fmt: skip
        async with tenant_tx(self.pool, self.tenant) as conn:
            await worker.handle(conn, event)


@pytest.fixture
async def env(app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember) -> AsyncIterator[Env]:
    member = await make_member()

    async def no_wait(_s: float) -> None:
        return None

    async with (
        running_sandbox() as sb,
        httpx.AsyncClient(base_url=sb.base_url, timeout=10) as admin,
        httpx.AsyncClient(timeout=10) as http,
    ):
        ad_account = str(10**14 + secrets.randbelow(10**13))
        body = {"ad_account_id": ad_account, "access_token": TOKEN, "pixel_id": "555", "page_id": "100200300"}
        (await admin.post("/sandbox/accounts", json=body)).raise_for_status()
        box = SecretBox(settings.channel_secrets_key)
        deps = AdsDeps(box, AdsRegistry([MetaAdsConnector(http, api_version="v21.0", sleep=no_wait)]))
        async with tenant_tx(app_pool, member.tenant_id) as conn:
            account = await provision(
                conn, member.tenant_id, box, platform="meta", external_id=ad_account, base_url=sb.base_url,
                config={"pixel_id": "555", "page_id": "100200300"}, secrets={"access_token": TOKEN},
            )  # fmt: skip
            campaign = await submit_change(
                conn, member.tenant_id, deps=deps, account_id=account["id"], kind="create_campaign",
                params={"name": "BF", "daily_budget_minor": 5000}, requested_by="member:u1", idempotency_key="c1",
            )  # fmt: skip
            ext = await conn.fetchval("select external_id from ad_objects where id = $1", campaign["object_id"])
            adset = await submit_change(
                conn, member.tenant_id, deps=deps, account_id=account["id"], kind="create_adset",
                params={"campaign_external_id": ext, "name": "BF set"}, requested_by="member:u1",
                idempotency_key="s1",
            )  # fmt: skip
            assert adset["status"] == "applied", adset
            adset_ext = await conn.fetchval("select external_id from ad_objects where id = $1", adset["object_id"])
        yield Env(app_pool, member.tenant_id, deps, admin, ad_account, account["id"], adset_ext)


async def test_approved_versions_are_published_paused_once(env: Env, redis_client: Any) -> None:
    worker = AdsWorker(env.pool, redis_client, "test:ads:unused", env.deps)
    creative = await env.creative(2, ads={"adset_external_id": env.adset, "link_url": "https://loja.example/bf"})
    await env.approve(worker, creative, 1)
    await env.approve(worker, creative, 2)
    await env.approve(worker, creative, 2)  # a retried click: a no-op decision, no second ad
    ads = await rows(
        env.pool, env.tenant, "select external_id, status, creative_version_id from ad_objects where tenant_id = $1 "
        "and level = 'ad' order by created_at",
    )  # fmt: skip
    assert len(ads) == 2 and {a["status"] for a in ads} == {"paused"}
    versions = await rows(env.pool, env.tenant, "select id from creative_versions where tenant_id = $1")
    assert {a["creative_version_id"] for a in ads} == {v["id"] for v in versions}
    objects = (await env.admin.get("/sandbox/objects", params={"account": env.ad_account})).json()["objects"]
    assert sorted(o["status"] for o in objects if o["level"] == "ad") == ["PAUSED", "PAUSED"]
    changes = await rows(
        env.pool, env.tenant, "select requested_by, status from ad_changes where tenant_id = $1 and kind = $2",
        "publish_creative",
    )  # fmt: skip
    assert [(c["requested_by"], c["status"]) for c in changes] == [("agent:clio", "applied")] * 2

    # No target: nothing published, the reason is an event.
    orphan = await env.creative(1)
    await env.approve(worker, orphan, 1)
    skipped = await rows(
        env.pool, env.tenant, "select payload from event_log where tenant_id = $1 and type = 'creative.publish_skipped'"
    )
    assert len(skipped) == 1 and "campaign" in skipped[0]["payload"]["reason"]


async def test_the_winner_is_the_arm_with_the_most_attributed_sales(env: Env, redis_client: Any) -> None:
    worker = AdsWorker(env.pool, redis_client, "test:ads:unused", env.deps)
    creative = await env.creative(2, ads={"adset_external_id": env.adset, "link_url": "https://loja.example/bf"})
    await env.approve(worker, creative, 1)
    await env.approve(worker, creative, 2)
    sql = """select v.version, o.external_id from ad_objects o join creative_versions v
             on v.id = o.creative_version_id where o.tenant_id = $1 and v.creative_id = $2"""
    by_version = {r["version"]: r["external_id"] for r in await rows(env.pool, env.tenant, sql, creative)}
    deals: list[UUID] = []
    async with tenant_tx(env.pool, env.tenant) as conn:
        for version, impressions, clicks in ((1, 1000, 10), (2, 1000, 30)):
            await conn.execute(
                """insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, day, impressions,
                                                 clicks, spend_minor) values ($1, $2, 'meta', 'ad', $3, current_date,
                                                 $4, $5, 3000)""",
                env.tenant, env.account_id, by_version[version], impressions, clicks,
            )  # fmt: skip
        # v1 brought one sale, v2 two.
        for version in (1, 2, 2):
            lead = await crm.create_lead(conn, env.tenant, {"name": f"Lead v{version}"})
            await conn.execute(
                """insert into lead_attribution (tenant_id, lead_id, platform, ad_external_id, source)
                   values ($1, $2, 'meta', $3, 'widget')""",
                env.tenant, lead["id"], by_version[version],
            )  # fmt: skip
            deal = await crm.create_deal(conn, env.tenant, {"lead_id": lead["id"], "value_cents": 10_000})
            await crm.win_deal(conn, env.tenant, deal["id"], source="api")
            deals.append(deal["id"])
    async with tenant_tx(env.pool, env.tenant) as conn:
        measured = await arms(conn, env.tenant, creative)
        first = await mark_winner_from_attribution(conn, env.tenant, deals[-1])
        again = await mark_winner_from_attribution(conn, env.tenant, deals[-1])  # a redelivered deal.won
    assert [(a["version"], a["sales"], a["ctr"], a["cpa_minor"]) for a in measured] == [
        (1, 1, 0.01, 3000),
        (2, 2, 0.03, 1500),
    ]
    assert first is not None and first["winner"]["version"] == 2 and first["changed"]
    assert again is not None and not again["changed"]
    [row] = await rows(
        env.pool, env.tenant, "select status, meta from creatives where tenant_id = $1 and id = $2", creative
    )
    assert row["status"] == "winner" and row["meta"]["winner_version"] == 2
    marked = await rows(
        env.pool, env.tenant, "select payload from event_log where tenant_id = $1 and type = 'creative.winner_marked'"
    )
    assert len(marked) == 1 and marked[0]["payload"]["version"] == 2
