"""Attribution capture through the real gateway and inbox (Postgres, Redis): a
click-to-WhatsApp referral, an Instagram click-to-Direct referral and the widget's UTM
fields become the lead's first touch, once; malformed referrals are logged and never
break the message; one tenant's ads never attribute another tenant's leads."""

from __future__ import annotations

import secrets
from uuid import UUID

import asyncpg
from fastapi import FastAPI

from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.channels.instagram.sandbox import InstagramSandbox, InstagramSandboxConfig
from tools.channels.webchat import new_publishable_key
from tools.inbox import SecretBox, provision

from ...ads_support import ad_account_row, ad_object, process_pending, rows, signed, whatsapp_account, whatsapp_body
from ..conftest import MakeMember, client_for

ATTR = """select la.platform, la.campaign_external_id, la.adset_external_id, la.ad_external_id, la.click_id_kind,
                 la.click_id, la.utm, la.source from lead_attribution la where la.tenant_id = $1"""


async def _meta_campaign(pool: asyncpg.Pool, tenant: TenantId, suffix: str) -> tuple[str, str, str]:
    account = await ad_account_row(pool, tenant)
    campaign, adset, ad = f"1202{suffix}01", f"1202{suffix}02", f"1202{suffix}03"
    await ad_object(pool, tenant, account, "campaign", campaign, name=f"Black Friday {suffix}")
    await ad_object(pool, tenant, account, "adset", adset, campaign)
    await ad_object(pool, tenant, account, "ad", ad, adset)
    return campaign, adset, ad


async def test_whatsapp_referral_is_the_first_touch_once(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a, b = await make_member(), await make_member()
    suffix = str(secrets.randbelow(10**6)).zfill(6)
    campaign, adset, ad = await _meta_campaign(app_pool, a.tenant_id, suffix)
    phone_id, secret = await whatsapp_account(app_pool, settings, a.tenant_id)
    phone_b, secret_b = await whatsapp_account(app_pool, settings, b.tenant_id)
    referral = {
        "source_url": "https://fb.me/3cr4Wqqkv",
        "source_id": ad,
        "source_type": "ad",
        "body": "Frete grátis",
        "headline": "Fale conosco",
        "media_type": "image",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GAB",
        "welcome_message": {"text": "Oi!"},
    }
    async with client_for(app) as c:
        for mid, ref in (("wamid.A1", referral), ("wamid.A2", {**referral, "source_id": "999", "ctwa_clid": "zz"})):
            body = whatsapp_body(phone_id, "5511977776666", mid, "Oi, vi o anúncio", ref)
            r = await c.post(f"/webhooks/whatsapp/{a.tenant_id}", content=body, headers=signed(body, secret))
            assert r.status_code == 200, r.text
        # The same ad id in another tenant's webhook attributes nothing to tenant a.
        body = whatsapp_body(phone_b, "5511955554444", "wamid.B1", "Oi", referral)
        r = await c.post(f"/webhooks/whatsapp/{b.tenant_id}", content=body, headers=signed(body, secret_b))
        assert r.status_code == 200
    assert await process_pending(app_pool, a.tenant_id) == 2
    assert await process_pending(app_pool, b.tenant_id) == 1

    [row] = await rows(app_pool, a.tenant_id, ATTR)
    assert (row["platform"], row["campaign_external_id"], row["adset_external_id"], row["ad_external_id"]) == (
        "meta",
        campaign,
        adset,
        ad,
    )  # the second ad the same contact came through did not overwrite the first touch
    assert row["click_id_kind"] == "ctwa_clid" and row["click_id"] == referral["ctwa_clid"]
    assert row["source"] == "whatsapp_referral"
    [other] = await rows(app_pool, b.tenant_id, ATTR)
    assert other["ad_external_id"] == ad and other["campaign_external_id"] is None  # b has no such ad mirrored
    events = await rows(
        app_pool, a.tenant_id, "select payload from event_log where tenant_id = $1 and type = $2", "lead.attributed"
    )
    assert len(events) == 1 and "click_id" not in events[0]["payload"]


async def test_malformed_referral_is_logged_and_the_message_kept(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    m = await make_member()
    phone_id, secret = await whatsapp_account(app_pool, settings, m.tenant_id)
    async with client_for(app) as c:
        for i, bad in enumerate(("not-an-object", {"source_id": {"x": 1}}, {"ctwa_clid": "x" * 600})):
            body = whatsapp_body(phone_id, "5511933332222", f"wamid.M{i}", f"mensagem {i}", bad)
            r = await c.post(f"/webhooks/whatsapp/{m.tenant_id}", content=body, headers=signed(body, secret))
            assert r.status_code == 200, r.text
    assert await process_pending(app_pool, m.tenant_id) == 3
    msgs = await rows(app_pool, m.tenant_id, "select body from messages where tenant_id = $1 and direction = 'in'")
    assert sorted(r["body"] for r in msgs) == ["mensagem 0", "mensagem 1", "mensagem 2"]
    logs = await rows(
        app_pool, m.tenant_id, "select code, message from error_logs where tenant_id = $1 and source = 'inbox.whatsapp'"
    )
    assert [r["code"] for r in logs] == ["malformed_referral"] * 3
    assert await rows(app_pool, m.tenant_id, ATTR) == []


async def test_instagram_click_to_direct_referral(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    m = await make_member()
    suffix = str(secrets.randbelow(10**6)).zfill(6)
    campaign, _adset, ad = await _meta_campaign(app_pool, m.tenant_id, suffix)
    ig_id, secret = f"1784{secrets.randbelow(10**9)}", "ig-secret"
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        await provision(
            conn, m.tenant_id, SecretBox(settings.channel_secrets_key), channel="instagram", provider="instagram",
            external_id=ig_id, name="ig", base_url=None, config={},
            secrets={"access_token": "tok", "app_secret": secret, "verify_token": f"vt-{ig_id}"},
        )  # fmt: skip
    sb = InstagramSandbox(
        InstagramSandboxConfig(ig_user_id=ig_id, app_secret=secret, webhook_url=f"/webhooks/instagram/{m.tenant_id}")
    )
    sb.http = client_for(app)
    try:
        item = {"sender": {"id": "IGSID-ad"}, "recipient": {"id": ig_id}, "timestamp": 1764700000000}
        item["message"] = {"mid": "mid-ad-1", "text": "quero saber mais"}
        item["referral"] = {"ref": "bf", "ad_id": ad, "source": "ADS", "type": "OPEN_THREAD",
                            "ads_context_data": {"ad_title": "Black Friday", "post_id": "1"}}  # fmt: skip
        assert await sb.deliver(sb.webhook([item])) == [200]
    finally:
        await sb.http.aclose()
    assert await process_pending(app_pool, m.tenant_id) == 1
    [row] = await rows(app_pool, m.tenant_id, ATTR)
    assert (row["platform"], row["campaign_external_id"], row["ad_external_id"], row["source"]) == (
        "meta",
        campaign,
        ad,
        "instagram_referral",
    )


async def test_widget_utm_and_click_id_become_the_touch_on_first_message(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    m = await make_member()
    key = new_publishable_key(m.tenant_id)
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        await provision(
            conn, m.tenant_id, SecretBox(settings.channel_secrets_key), channel="chat", provider="webchat",
            external_id=key, name="site", base_url=None, config={"allowed_origins": ["https://shop.example"]},
            secrets={"visitor_secret": secrets.token_urlsafe(24)},
        )  # fmt: skip
    account = await ad_account_row(app_pool, m.tenant_id, "google")
    await ad_object(app_pool, m.tenant_id, account, "campaign", "2233445566", platform="google", name="verao-2026")
    async with client_for(app) as c:
        bad = await c.post(f"/widget/{key}/sessions", json={"gclid": "has spaces <script>"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"
        s = await c.post(
            f"/widget/{key}/sessions",
            json={
                "utm_source": "google",
                "utm_medium": "cpc",
                "utm_campaign": "verao-2026",
                "gclid": "EAIaIQobChMI-x_1",
            },
        )
        assert s.status_code == 201, s.text
        token = s.json()["visitor_token"]
        plain = await c.post(f"/widget/{key}/sessions", json={})
        for t, cid in ((token, "c1"), (token, "c2"), (plain.json()["visitor_token"], "p1")):
            r = await c.post(
                f"/widget/{key}/messages", json={"client_message_id": cid, "text": "oi"}, headers={"X-Visitor-Token": t}
            )
            assert r.status_code == 202, r.text
    assert await process_pending(app_pool, m.tenant_id) == 3
    [row] = await rows(app_pool, m.tenant_id, ATTR)
    assert (row["platform"], row["campaign_external_id"], row["click_id_kind"], row["click_id"]) == (
        "google",
        "2233445566",  # the campaign name in utm_campaign resolved to its id through ad_objects
        "gclid",
        "EAIaIQobChMI-x_1",
    )
    assert row["utm"] == {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "verao-2026"}
    assert await rows(app_pool, m.tenant_id, "select id from visitor_touches where tenant_id = $1") == []
    leads = await rows(app_pool, m.tenant_id, "select id from leads where tenant_id = $1")
    assert len(leads) == 2 and isinstance(leads[0]["id"], UUID)
