"""``make run``'s ad setup: the demo accounts registered in the three ad sandboxes (real
sockets) and provisioned for the tenant, idempotently, secrets sealed (hints only)."""

from __future__ import annotations

import asyncpg
import httpx

from core.settings import Settings
from tools.ads.google.sandbox import running_sandbox as google_sandbox
from tools.ads.meta.sandbox import running_sandbox as meta_sandbox
from tools.ads.tiktok.sandbox import running_sandbox as tiktok_sandbox
from tridium.ads_setup import META_ACCOUNT, META_TOKEN, setup_demo_ads

from ...ads_support import rows
from ...conftest import MakeMember


async def test_demo_ad_accounts_point_at_the_sandboxes(
    app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    m = await make_member()
    async with meta_sandbox() as meta, google_sandbox() as google, tiktok_sandbox() as tiktok:
        urls = {"meta": meta.base_url, "google": google.base_url, "tiktok": tiktok.base_url}
        first = await setup_demo_ads(settings, m.slug, urls)
        again = await setup_demo_ads(settings, m.slug, urls)  # a second `make run`
        assert [a["account_id"] for a in first] == [a["account_id"] for a in again]
        got = await rows(
            app_pool,
            m.tenant_id,
            "select platform, base_url, secrets, secret_hints from ad_accounts where tenant_id = $1",
        )
        assert sorted((r["platform"], r["base_url"]) for r in got) == sorted(urls.items())
        meta_row = next(r for r in got if r["platform"] == "meta")
        assert META_TOKEN.encode() not in bytes(meta_row["secrets"])  # sealed at rest
        assert meta_row["secret_hints"]["access_token"].endswith(META_TOKEN[-4:])
        async with httpx.AsyncClient(base_url=meta.base_url) as c:  # the sandbox knows the account
            assert (await c.get("/sandbox/objects", params={"account": META_ACCOUNT})).status_code == 200
