"""The same sync on the Google Ads and TikTok sandboxes: twice → the same rows, a restated
day overwritten, the campaign mirror refreshed (Google budgets in micros, TikTok in
currency units, both stored as minor units)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Settings
from db.pool import tenant_tx
from tools.ads import AdObject, AdsConnector, AdSetSpec, AdsRegistry, CampaignSpec, CreativeSpec
from tools.ads.accounts import AdsDeps, provision
from tools.ads.google import GoogleAdsConnector
from tools.ads.google.sandbox import running_sandbox as google_sandbox
from tools.ads.sync import SyncOptions, sync_tenant
from tools.ads.tiktok import TikTokAdsConnector, TikTokSettings
from tools.ads.tiktok.sandbox import running_sandbox as tiktok_sandbox
from tools.inbox.crypto import SecretBox

from ...conftest import MakeMember

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)


async def _no_sleep(_: float) -> None:
    return None


async def _tree(c: AdsConnector, account: Any, platform: str) -> AdObject:
    campaign = await c.create_campaign(account, CampaignSpec(name="Pix promo", daily_budget_minor=10_050))
    assert isinstance(campaign, AdObject)
    if platform == "tiktok":
        adset = await c.create_adset(
            account, AdSetSpec(campaign_external_id=campaign.external_id, name="SP", daily_budget_minor=3_000)
        )
        assert isinstance(adset, AdObject)
        ad = await c.create_ad(
            account,
            CreativeSpec(
                adset_external_id=adset.external_id, name="v1", headline="h", body="b", link_url="https://loja.example"
            ),
        )
        assert isinstance(ad, AdObject)
    await c.set_status(account, "campaign", campaign.external_id, "active")
    return campaign


PLATFORMS: dict[str, dict[str, Any]] = {
    "google": {
        "sandbox": google_sandbox,
        "connector": lambda http: GoogleAdsConnector(http, "v26", backoff_initial_s=0.01, backoff_max_s=0.05),
        "register": lambda ext: {
            "customer_id": ext,
            "access_token": "ya29.t",
            "developer_token": "dev",
            "conversion_action_ids": ["7001"],
        },
        "external_id": lambda: str(1_000_000_000 + uuid.uuid4().int % 8_999_999_999),
        "config": {"conversion_action_id": "7001"},
        "secrets": {"access_token": "ya29.t", "developer_token": "dev"},
    },
    "tiktok": {
        "sandbox": tiktok_sandbox,
        "connector": lambda http: TikTokAdsConnector(
            http, TikTokSettings(max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05)
        ),
        "register": lambda ext: {
            "advertiser_id": ext,
            "access_token": "tt-token-0123456789",
            "currency": "BRL",
            "pixel_code": "CPIXEL0123456789",
        },
        "external_id": lambda: str(7_000_000_000_000_000_000 + uuid.uuid4().int % 10**12),
        "config": {
            "pixel_code": "CPIXEL0123456789",
            "identity_id": "7100000000000000001",
            "image_ids": ["ad-image-placeholder"],
        },
        "secrets": {"access_token": "tt-token-0123456789"},
    },
}

SQL = """select level, external_id, day, impressions, clicks, spend_minor from ad_metrics_daily
         where tenant_id = $1 order by level, external_id, day"""


@pytest.mark.parametrize("platform", ["google", "tiktok"])
async def test_sync_is_idempotent_on_the_sandbox(
    platform: str, app_pool: asyncpg.Pool, make_member: MakeMember, settings: Settings
) -> None:
    spec = PLATFORMS[platform]
    member = await make_member()
    t = member.tenant_id
    box = SecretBox(settings.channel_secrets_key)
    ext = spec["external_id"]()
    running: Callable[[], AbstractAsyncContextManager[Any]] = spec["sandbox"]
    async with running() as sb, httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"{sb.base_url}/sandbox/accounts", json=spec["register"](ext))
        assert r.status_code in (200, 201), r.text
        connector = spec["connector"](http)
        deps = AdsDeps(box, AdsRegistry([connector]))
        async with tenant_tx(app_pool, t) as conn:
            acc = await provision(
                conn,
                t,
                box,
                platform=platform,
                external_id=ext,
                base_url=sb.base_url,
                config=spec["config"],
                secrets=spec["secrets"],
            )
            account = await deps.account(conn, t, acc["id"])
        campaign = await _tree(connector, account, platform)

        async def deliver(day: date, **m: int) -> None:
            body = {"account": ext, "level": "campaign", "id": campaign.external_id, "day": day.isoformat(), **m}
            rr = await http.post(f"{sb.base_url}/sandbox/delivery", json=body)
            assert rr.status_code == 200, rr.text

        async def sync() -> list[dict[str, Any]]:
            return await sync_tenant(
                app_pool, t, deps, options=SyncOptions(backoff_initial_s=0.01), now=NOW, sleep=_no_sleep
            )

        async def rows() -> list[tuple[Any, ...]]:
            async with tenant_tx(app_pool, t) as conn:
                return [tuple(x) for x in await conn.fetch(SQL, t)]

        await deliver(TODAY - timedelta(days=1), impressions=1000, clicks=20, spend_minor=1_234)
        await deliver(TODAY, impressions=500, clicks=5, spend_minor=700)
        [run] = await sync()
        assert run["status"] == "done", run
        first = await rows()
        camp = [x for x in first if x[0] == "campaign"]
        assert camp == [
            ("campaign", campaign.external_id, TODAY - timedelta(days=1), 1000, 20, 1_234),
            ("campaign", campaign.external_id, TODAY, 500, 5, 700),
        ]
        [again] = await sync()
        assert again["status"] == "done" and again["rows"] == run["rows"]
        assert await rows() == first
        await deliver(TODAY, impressions=900, clicks=9, spend_minor=1_100)
        await sync()
        assert ("campaign", campaign.external_id, TODAY, 900, 9, 1_100) in await rows()
        async with tenant_tx(app_pool, t) as conn:
            obj = await conn.fetchrow(
                "select status, daily_budget_minor from ad_objects where tenant_id = $1 and external_id = $2",
                t,
                campaign.external_id,
            )
        assert obj is not None and (obj["status"], obj["daily_budget_minor"]) == ("active", 10_050)
