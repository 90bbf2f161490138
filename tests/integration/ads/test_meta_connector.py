"""The Meta connector against the Meta ads sandbox on a real socket (no Postgres needed)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from tools.ads import (
    AdAccountView,
    AdObject,
    AdsAuthFailed,
    AdSetSpec,
    AdsPlatformError,
    AdsRateLimited,
    AdsRequestRejected,
    CampaignSpec,
    ConversionEvent,
    CreativeSpec,
    DryRun,
)
from tools.ads.meta import MetaAdsConnector
from tools.ads.meta.sandbox import RunningMetaAdsSandbox, running_sandbox

TOKEN = "EAAB-sandbox-token"


@dataclass
class Env:
    sandbox: RunningMetaAdsSandbox
    admin: httpx.AsyncClient
    connector: MetaAdsConnector
    account: AdAccountView
    sleeps: list[float]

    async def objects(self) -> dict[str, dict[str, Any]]:
        r = await self.admin.get("/sandbox/objects", params={"account": self.account.external_id})
        r.raise_for_status()
        return {o["id"]: o for o in r.json()["objects"]}

    async def fault(self, **body: Any) -> None:
        (await self.admin.post("/sandbox/faults", json=body)).raise_for_status()

    async def requests(self, operation: str) -> int:
        r = await self.admin.get("/sandbox/requests", params={"account": self.account.external_id})
        return sum(1 for x in r.json()["requests"] if x["operation"] == operation)


def view(base_url: str, external_id: str, token: str = TOKEN, **config: Any) -> AdAccountView:
    return AdAccountView(
        id=uuid4(),
        tenant_id=uuid4(),
        platform="meta",
        external_id=external_id,
        currency="BRL",
        timezone="America/Sao_Paulo",
        base_url=base_url,
        config={"page_id": "100200300", "pixel_id": "555000111", "waba_id": "102290129340398", **config},
        secrets={"access_token": SecretStr(token)},
    )


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    async with running_sandbox() as sb, httpx.AsyncClient(base_url=sb.base_url, timeout=10) as admin:
        external_id = str(10**14 + int(uuid4().int % 10**13))
        r = await admin.post(
            "/sandbox/accounts",
            json={"ad_account_id": external_id, "access_token": TOKEN, "currency": "BRL", "pixel_id": "555000111"},
        )
        r.raise_for_status()
        sleeps: list[float] = []

        async def fake_sleep(s: float) -> None:  # backoff is recorded, not waited for
            sleeps.append(s)

        async with httpx.AsyncClient(timeout=10) as http:
            connector = MetaAdsConnector(http, api_version="v21.0", page_size=2, sleep=fake_sleep)
            yield Env(sb, admin, connector, view(sb.base_url, external_id), sleeps)


async def _campaign(env: Env, budget: int = 5_000, objective: str = "leads") -> AdObject:
    made = await env.connector.create_campaign(
        env.account,
        CampaignSpec(name="Pizza Delivery SP", objective=objective, daily_budget_minor=budget),  # type: ignore[arg-type]
    )
    assert isinstance(made, AdObject)
    return made


async def _ad(env: Env, campaign: AdObject) -> tuple[AdObject, AdObject]:
    adset = await env.connector.create_adset(
        env.account, AdSetSpec(campaign_external_id=campaign.external_id, name="SP 25-45", age_min=25, age_max=45)
    )
    assert isinstance(adset, AdObject)
    ad = await env.connector.create_ad(
        env.account,
        CreativeSpec(
            adset_external_id=adset.external_id,
            name="Pizza v1",
            headline="Pizza em 30 minutos",
            body="Peça agora pelo WhatsApp",
            link_url="https://example.com.br/pizza",
            creative_version_id="cv-1",
        ),
    )
    assert isinstance(ad, AdObject)
    return adset, ad


async def test_create_campaign_is_paused_with_the_budget_in_centavos(env: Env) -> None:
    made = await _campaign(env, budget=12_345)
    assert made.status == "paused" and made.daily_budget_minor == 12_345 and made.level == "campaign"
    obj = (await env.objects())[made.external_id]
    assert obj["status"] == "PAUSED"
    assert obj["daily_budget"] == 12_345  # Meta's unit for BRL is the centavo (offset 100)
    assert obj["daily_budget_minor"] == 12_345
    assert obj["objective"] == "OUTCOME_LEADS"
    assert obj["fields"]["special_ad_categories"] == []
    listed = await env.connector.list_campaigns(env.account)
    assert [c.external_id for c in listed] == [made.external_id]
    assert listed[0].status == "paused" and listed[0].daily_budget_minor == 12_345


async def test_adset_creative_and_ad_are_created_paused(env: Env) -> None:
    campaign = await _campaign(env)
    adset, ad = await _ad(env, campaign)
    objs = await env.objects()
    assert adset.parent_external_id == campaign.external_id and adset.status == "paused"
    assert objs[adset.external_id]["status"] == "PAUSED"
    assert objs[adset.external_id]["daily_budget"] is None  # the campaign holds the budget (CBO)
    targeting = objs[adset.external_id]["fields"]["targeting"]
    assert targeting == {"geo_locations": {"countries": ["BR"]}, "age_min": 25, "age_max": 45}
    assert objs[adset.external_id]["fields"]["optimization_goal"] == "LEAD_GENERATION"
    assert ad.parent_external_id == adset.external_id and ad.status == "paused"
    assert objs[ad.external_id]["status"] == "PAUSED"
    creative = objs[objs[ad.external_id]["creative_id"]]
    assert creative["level"] == "creative"
    story = creative["fields"]["object_story_spec"]
    assert story["page_id"] == "100200300" and story["link_data"]["link"] == "https://example.com.br/pizza"
    assert "tcv=cv-1" in creative["fields"]["url_tags"]


async def test_status_and_budget_changes(env: Env) -> None:
    campaign = await _campaign(env, budget=5_000)
    active = await env.connector.set_status(env.account, "campaign", campaign.external_id, "active")
    assert isinstance(active, AdObject) and active.status == "active"
    assert (await env.objects())[campaign.external_id]["status"] == "ACTIVE"
    changed = await env.connector.set_daily_budget(env.account, "campaign", campaign.external_id, 6_000)
    assert isinstance(changed, AdObject) and changed.daily_budget_minor == 6_000
    assert (await env.objects())[campaign.external_id]["daily_budget"] == 6_000
    paused = await env.connector.set_status(env.account, "campaign", campaign.external_id, "paused")
    assert isinstance(paused, AdObject) and paused.status == "paused"


async def test_dry_runs_return_dryrun_and_change_nothing(env: Env) -> None:
    before = await env.objects()
    dry = await env.connector.create_campaign(
        env.account, CampaignSpec(name="Dry", daily_budget_minor=1_000), validate_only=True
    )
    assert isinstance(dry, DryRun) and dry.supported and dry.ok
    assert await env.objects() == before
    campaign = await _campaign(env, budget=5_000)
    for call in (
        env.connector.set_status(env.account, "campaign", campaign.external_id, "active", validate_only=True),
        env.connector.set_daily_budget(env.account, "campaign", campaign.external_id, 9_000, validate_only=True),
    ):
        result = await call
        assert isinstance(result, DryRun) and result.ok
    obj = (await env.objects())[campaign.external_id]
    assert obj["status"] == "PAUSED" and obj["daily_budget"] == 5_000
    # A refused dry run is an answer, not an exception: an ad-set budget under a campaign budget.
    refused = await env.connector.create_adset(
        env.account,
        AdSetSpec(campaign_external_id=campaign.external_id, name="x", daily_budget_minor=100),
        validate_only=True,
    )
    assert isinstance(refused, DryRun) and not refused.ok and "campaign budget" in refused.messages[0]
    no_campaign = await env.connector.create_adset(
        env.account, AdSetSpec(campaign_external_id="404", name="x"), validate_only=True
    )
    assert isinstance(no_campaign, DryRun) and not no_campaign.ok
    dry_ad = await env.connector.create_ad(
        env.account,
        CreativeSpec(adset_external_id="0", name="n", headline="h", body="b", link_url="https://e.com"),
        validate_only=True,
    )
    assert isinstance(dry_ad, DryRun) and not dry_ad.ok  # unknown ad set
    assert len(await env.objects()) == 1


async def _delivery(env: Env, level: str, oid: str, day: date, **m: int) -> None:
    r = await env.admin.post(
        "/sandbox/delivery",
        json={"account": env.account.external_id, "level": level, "id": oid, "day": day.isoformat(), **m},
    )
    r.raise_for_status()


async def test_insights_daily_rows_at_campaign_and_ad_level_with_paging(env: Env) -> None:
    c1, c2 = await _campaign(env), await _campaign(env)
    _, ad1 = await _ad(env, c1)
    _, ad2 = await _ad(env, c1)
    d0 = date(2026, 3, 1)
    days = [d0 + timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        await _delivery(
            env, "ad", ad1.external_id, day, impressions=1000 + i, clicks=20, spend_minor=1_234, conversions=2
        )
        await _delivery(env, "ad", ad2.external_id, day, impressions=500, clicks=5, spend_minor=766, conversions=1)
        await _delivery(env, "campaign", c2.external_id, day, impressions=300, clicks=3, spend_minor=999)
    await _delivery(env, "ad", ad1.external_id, d0 + timedelta(days=10), impressions=1, clicks=1, spend_minor=1)

    rows = await env.connector.insights(env.account, "campaign", days[0], days[-1])
    assert len(rows) == 6  # 2 campaigns x 3 days: 3 pages of 2
    assert await env.requests("insights") == 3
    by = {(r.external_id, r.day): r for r in rows}
    first = by[(c1.external_id, d0)]
    assert (first.impressions, first.clicks, first.spend_minor, first.conversions) == (1500, 25, 2_000, 3.0)
    assert first.raw["spend"] == "20.00"  # Meta's decimal string in currency units
    assert first.campaign_external_id == c1.external_id and first.currency == "BRL"
    assert by[(c2.external_id, days[2])].spend_minor == 999 and by[(c2.external_id, days[2])].conversions == 0
    assert sum(r.spend_minor for r in rows) == 3 * (2_000 + 999)

    ad_rows = await env.connector.insights(env.account, "ad", days[0], days[-1])
    assert {(r.external_id, r.day) for r in ad_rows} == {(a.external_id, d) for a in (ad1, ad2) for d in days}
    assert all(r.campaign_external_id == c1.external_id for r in ad_rows)
    assert sum(r.spend_minor for r in ad_rows if r.external_id == ad1.external_id) == 3 * 1_234
    assert [r.impressions for r in ad_rows if r.external_id == ad1.external_id] == [1000, 1001, 1002]

    reads = await env.requests("read")
    await _campaign(env)
    assert len(await env.connector.list_campaigns(env.account)) == 3
    assert await env.requests("read") == reads + 2  # 3 campaigns, pages of 2


def _sha(v: str) -> str:
    return hashlib.sha256(v.encode()).hexdigest()


async def test_conversions_are_hashed_and_duplicates_counted(env: Env) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    purchase = ConversionEvent(
        event_id="pay-1",
        kind="purchase",
        occurred_at=now,
        value_minor=15_990,
        email="  Maria.Silva@Example.COM ",
        phone="+55 (11) 98765-4321",
        external_id="lead-42",
        click_id="IwAR2F4-abc",
        click_id_kind="fbclid",
    )
    lead = ConversionEvent(
        event_id="lead-7",
        kind="lead",
        occurred_at=now,
        phone="11987654321",
        click_id="ARAkLk-ctwa",
        click_id_kind="ctwa_clid",
    )
    results = await env.connector.send_conversions(env.account, [purchase, lead])
    assert [(r.event_id, r.accepted) for r in results] == [("pay-1", True), ("lead-7", True)]
    again = await env.connector.send_conversions(env.account, [purchase])
    assert again[0].accepted  # Meta accepts it and dedupes on its side

    r = await env.admin.get("/sandbox/conversions", params={"account": env.account.external_id})
    got = r.json()
    text = r.text
    for clear in ("maria", "Maria", "98765", "lead-42"):
        assert clear not in text  # no clear e-mail, phone or lead id reached Meta
    assert got["unique_events"] == 2 and got["duplicates"] == 1
    events = got["events"]
    p = events[0]["event"]
    assert p["event_name"] == "Purchase" and p["action_source"] == "system_generated"
    assert p["user_data"]["em"] == [_sha("maria.silva@example.com")]
    assert p["user_data"]["ph"] == [_sha("5511987654321")]
    assert p["user_data"]["external_id"] == [_sha("lead-42")]
    assert p["user_data"]["fbc"] == f"fb.1.{int(now.timestamp() * 1000)}.IwAR2F4-abc"
    assert p["custom_data"] == {"value": 159.9, "currency": "BRL"}
    assert p["event_time"] == int(now.timestamp())
    w = events[1]["event"]
    assert w["event_name"] == "LeadSubmitted" and w["action_source"] == "business_messaging"
    assert w["messaging_channel"] == "whatsapp"
    assert w["user_data"]["ctwa_clid"] == "ARAkLk-ctwa"
    assert w["user_data"]["whatsapp_business_account_id"] == "102290129340398"
    assert w["user_data"]["ph"] == [_sha("5511987654321")]  # national number got +55
    assert [e["duplicates"] for e in events] == [1, 0, 1] and events[2]["duplicate"] is True


async def test_refused_conversions_are_reported_per_event(env: Env) -> None:
    now = datetime.now(UTC)
    anonymous = ConversionEvent(event_id="x-1", kind="lead", occurred_at=now)
    stale = ConversionEvent(event_id="x-2", kind="lead", occurred_at=now - timedelta(days=8), email="a@b.com")
    fresh = ConversionEvent(event_id="x-3", kind="lead", occurred_at=now, email="c@d.com")
    results = await env.connector.send_conversions(env.account, [anonymous, stale, fresh])
    assert [r.event_id for r in results] == ["x-1", "x-2", "x-3"]
    assert results[0].accepted is False and "identifier" in (results[0].error or "")
    # Meta refuses the whole request when one event is invalid: both go back as not accepted.
    assert [r.accepted for r in results[1:]] == [False, False] and "7 days" in (results[1].error or "")
    got = (await env.admin.get("/sandbox/conversions", params={"account": env.account.external_id})).json()
    assert got["events"] == []
    await env.fault(operation="events", kind="server_error", count=2)
    ok = await env.connector.send_conversions(env.account, [fresh])  # events are safe to retry (event_id dedupe)
    assert ok[0].accepted and await env.requests("events") == 4
    test_account = view(env.sandbox.base_url, env.account.external_id, capi_test_event_code="TEST123")
    await env.connector.send_conversions(test_account, [fresh])
    got = (await env.admin.get("/sandbox/conversions", params={"account": env.account.external_id})).json()
    assert [e["test_event_code"] for e in got["events"]] == [None, "TEST123"]
    assert got["duplicates"] == 1


async def test_invalid_token_maps_to_auth_failed(env: Env) -> None:
    bad = view(env.sandbox.base_url, env.account.external_id, token="EAAB-wrong")
    with pytest.raises(AdsAuthFailed) as info:
        await env.connector.list_campaigns(bad)
    assert info.value.provider_code == "190" and info.value.status == 409
    assert await env.requests("read") == 0  # refused at the door, never retried


async def test_invalid_parameter_maps_to_request_rejected(env: Env) -> None:
    with pytest.raises(AdsRequestRejected) as info:
        await env.connector.create_adset(env.account, AdSetSpec(campaign_external_id="999999", name="orphan"))
    assert info.value.provider_code == "100/33"
    assert info.value.details["error_user_msg"] is None or isinstance(info.value.details["error_user_msg"], str)
    campaign = await _campaign(env)
    adset, _ = await _ad(env, campaign)
    with pytest.raises(AdsRequestRejected) as info:  # the budget lives on the campaign (CBO)
        await env.connector.set_daily_budget(env.account, "adset", adset.external_id, 100)
    assert info.value.provider_code == "100" and info.value.status == 422
    assert "campaign or ad sets" in info.value.message
    assert await env.requests("update") == 1  # a refusal is not retried
    assert (await env.objects())[campaign.external_id]["daily_budget"] == 5_000


async def test_rate_limit_with_usage_header_maps_to_rate_limited(env: Env) -> None:
    await env.fault(operation="read", kind="rate_limit", code=80004, count=5, regain_minutes=7)
    with pytest.raises(AdsRateLimited) as info:
        await env.connector.list_campaigns(env.account)
    err = info.value
    assert err.retriable and err.provider_code == "80004" and err.retry_after_s == 7 * 60
    assert err.details["usage"]["x-business-use-case-usage"]
    assert await env.requests("read") == 1  # a 7-minute regain time is surfaced, not slept through
    assert env.sleeps == []
    # A short throttle (code 17) is waited out and retried, even for a create.
    await (await env.admin.post("/sandbox/reset")).aread()
    await env.admin.post(
        "/sandbox/accounts",
        json={"ad_account_id": env.account.external_id, "access_token": TOKEN, "pixel_id": "555000111"},
    )
    await env.fault(operation="create_campaign", kind="rate_limit", code=17, count=1, regain_minutes=0)
    made = await _campaign(env)
    assert made.status == "paused" and await env.requests("create_campaign") == 2
    assert len(await env.objects()) == 1 and env.sleeps == [0.0]


async def test_server_errors_are_retried_with_backoff_for_reads_and_updates(env: Env) -> None:
    campaign = await _campaign(env)
    await env.fault(operation="insights", kind="server_error", count=2)
    assert await env.connector.insights(env.account, "campaign", date(2026, 1, 1), date(2026, 1, 2)) == []
    assert await env.requests("insights") == 3 and len(env.sleeps) == 2
    assert env.sleeps[1] >= env.sleeps[0] * 0.9 or env.sleeps[1] >= 0.5  # exponential with jitter
    await env.fault(operation="update", kind="server_error", count=2)
    changed = await env.connector.set_daily_budget(env.account, "campaign", campaign.external_id, 7_000)
    assert isinstance(changed, AdObject) and changed.daily_budget_minor == 7_000
    assert await env.requests("update") == 3
    await env.fault(operation="read", kind="server_error", count=3)
    with pytest.raises(AdsPlatformError) as info:
        await env.connector.get_object(env.account, "campaign", campaign.external_id)
    assert info.value.retriable and info.value.provider_code == "2"  # gave up after max_attempts


async def test_a_create_with_an_unknown_outcome_is_not_retried(env: Env) -> None:
    # The sandbox writes the campaign and then answers 500: the answer is lost.
    await env.fault(operation="create_campaign", kind="after_commit_error", count=1)
    with pytest.raises(AdsPlatformError) as info:
        await _campaign(env)
    err = info.value
    assert err.retriable is False and err.provider_code == "outcome_unknown"
    assert await env.requests("create_campaign") == 1  # not blindly repeated
    assert len(await env.objects()) == 1  # hence exactly one campaign, found by listing
    assert len(await env.connector.list_campaigns(env.account)) == 1


async def test_sandbox_simulate_delivers_only_active_campaigns_within_budget(env: Env) -> None:
    active, paused = await _campaign(env, budget=10_000), await _campaign(env, budget=10_000)
    await env.connector.set_status(env.account, "campaign", active.external_id, "active")
    day = date(2026, 4, 2)
    r = await env.admin.post("/sandbox/simulate", json={"account": env.account.external_id, "day": day.isoformat()})
    again = await env.admin.post("/sandbox/simulate", json={"account": env.account.external_id, "day": day.isoformat()})
    assert r.json()["rows"] == again.json()["rows"]  # deterministic
    rows = await env.connector.insights(env.account, "campaign", day, day)
    assert [x.external_id for x in rows] == [active.external_id]
    assert 6_000 <= rows[0].spend_minor <= 10_000
    assert paused.external_id not in {x.external_id for x in rows}
