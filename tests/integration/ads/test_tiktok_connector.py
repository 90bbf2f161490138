"""The TikTok connector against the TikTok sandbox over a real socket: creates (disabled),
status, budgets in currency units, reports per day and level, paging, the Events API
(hashing, dedupe) and the error envelope (HTTP 200 with ``code`` != 0)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
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
from tools.ads.tiktok import TikTokAdsConnector, TikTokSettings
from tools.ads.tiktok.sandbox import RunningSandbox, running_sandbox

TOKEN = "tt-test-token-0123456789"
PIXEL = "CPIXEL0123456789"
FAST = TikTokSettings(max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(seed=11) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


@pytest.fixture
def tiktok(http: httpx.AsyncClient) -> TikTokAdsConnector:
    return TikTokAdsConnector(http, FAST)


async def _register(http: httpx.AsyncClient, sandbox: RunningSandbox, **extra: Any) -> str:
    advertiser_id = str(7_000_000_000_000_000_000 + uuid.uuid4().int % 10**12)
    body = {"advertiser_id": advertiser_id, "access_token": TOKEN, "currency": "BRL", "pixel_code": PIXEL, **extra}
    r = await http.post(f"{sandbox.base_url}/sandbox/accounts", json=body)
    assert r.status_code == 200, r.text
    return advertiser_id


def _view(sandbox: RunningSandbox, advertiser_id: str, token: str = TOKEN, **config: Any) -> AdAccountView:
    return AdAccountView(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        platform="tiktok",
        external_id=advertiser_id,
        currency="BRL",
        timezone="America/Sao_Paulo",
        base_url=sandbox.base_url,
        config={
            "pixel_code": PIXEL,
            "identity_id": "7100000000000000001",
            "image_ids": ["ad-image-placeholder"],
            **config,
        },
        secrets={"access_token": SecretStr(token)},
    )


@pytest.fixture
async def account(http: httpx.AsyncClient, sandbox: RunningSandbox) -> AdAccountView:
    return _view(sandbox, await _register(http, sandbox))


async def _objects(http: httpx.AsyncClient, sandbox: RunningSandbox, account: AdAccountView) -> dict[str, Any]:
    r = await http.get(f"{sandbox.base_url}/sandbox/objects", params={"account": account.external_id})
    assert r.status_code == 200
    return {o["id"]: o for o in r.json()["objects"]}


async def _tree(tiktok: TikTokAdsConnector, account: AdAccountView) -> tuple[AdObject, AdObject, AdObject]:
    campaign = await tiktok.create_campaign(account, CampaignSpec(name="Pix promo", daily_budget_minor=10_050))
    assert isinstance(campaign, AdObject)
    adset = await tiktok.create_adset(
        account, AdSetSpec(campaign_external_id=campaign.external_id, name="SP 25-44", daily_budget_minor=3_000)
    )
    assert isinstance(adset, AdObject)
    ad = await tiktok.create_ad(
        account,
        CreativeSpec(
            adset_external_id=adset.external_id,
            name="v1",
            headline="Pague com Pix",
            body="Desconto no Pix hoje",
            link_url="https://loja.example/pix?utm_source=tiktok",
        ),
    )
    assert isinstance(ad, AdObject)
    return campaign, adset, ad


async def test_create_campaign_is_disabled_with_the_budget_in_currency_units(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    # The sandbox (like TikTok for accounts not allow-listed) ignores operation_status at create.
    campaign = await tiktok.create_campaign(account, CampaignSpec(name="Leads BR", daily_budget_minor=12_345))
    assert isinstance(campaign, AdObject)
    assert campaign.status == "paused"
    assert campaign.daily_budget_minor == 12_345
    seen = (await _objects(http, sandbox, account))[campaign.external_id]
    assert seen["operation_status"] == "DISABLE"
    assert seen["budget"] == "123.45" and seen["budget_minor"] == 12_345
    assert seen["budget_mode"] == "BUDGET_MODE_DAY"
    assert seen["fields"]["objective_type"] == "LEAD_GENERATION"
    listed = await tiktok.list_campaigns(account)
    assert [c.external_id for c in listed] == [campaign.external_id]


async def test_allowlisted_account_creates_disabled_directly(
    tiktok: TikTokAdsConnector, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    account = _view(sandbox, await _register(http, sandbox, operation_status_allowlisted=True))
    campaign = await tiktok.create_campaign(account, CampaignSpec(name="x", daily_budget_minor=5_000))
    assert isinstance(campaign, AdObject) and campaign.status == "paused"


async def test_adgroup_and_ad_are_created_disabled(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign, adset, ad = await _tree(tiktok, account)
    assert adset.status == "paused" and adset.parent_external_id == campaign.external_id
    assert adset.daily_budget_minor == 3_000
    assert ad.status == "paused" and ad.parent_external_id == adset.external_id
    objects = await _objects(http, sandbox, account)
    assert {o["operation_status"] for o in objects.values()} == {"DISABLE"}
    group = objects[adset.external_id]["fields"]
    assert group["location_ids"] == ["3469034"] and group["optimization_goal"] == "LEAD_GENERATION"
    assert objects[ad.external_id]["fields"]["landing_page_url"].startswith("https://loja.example/pix")


async def test_enable_and_delete_through_set_status(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign, adset, ad = await _tree(tiktok, account)
    for level, obj in (("campaign", campaign), ("adset", adset), ("ad", ad)):
        enabled = await tiktok.set_status(account, level, obj.external_id, "active")  # type: ignore[arg-type]
        assert isinstance(enabled, AdObject) and enabled.status == "active"
    objects = await _objects(http, sandbox, account)
    assert {o["operation_status"] for o in objects.values()} == {"ENABLE"}
    removed = await tiktok.set_status(account, "ad", ad.external_id, "removed")
    assert isinstance(removed, AdObject) and removed.status == "removed"
    assert (await _objects(http, sandbox, account))[ad.external_id]["deleted"] is True
    with pytest.raises(AdsRequestRejected):
        await tiktok.set_status(account, "campaign", campaign.external_id, "archived")


async def test_budget_update_converts_minor_units_exactly(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign, adset, _ = await _tree(tiktok, account)
    updated = await tiktok.set_daily_budget(account, "campaign", campaign.external_id, 20_001)
    assert isinstance(updated, AdObject) and updated.daily_budget_minor == 20_001
    group = await tiktok.set_daily_budget(account, "adset", adset.external_id, 2_550)
    assert isinstance(group, AdObject) and group.daily_budget_minor == 2_550
    objects = await _objects(http, sandbox, account)
    assert objects[campaign.external_id]["budget"] == "200.01"
    assert objects[adset.external_id]["budget"] == "25.5"
    # Under TikTok's minimum (ad group 20 in the account currency): the sandbox's 40002.
    with pytest.raises(AdsRequestRejected) as caught:
        await tiktok.set_daily_budget(account, "adset", adset.external_id, 1_999)
    assert caught.value.provider_code == "40002"
    assert (await _objects(http, sandbox, account))[adset.external_id]["budget"] == "25.5"


async def test_dry_run_is_not_supported_and_sends_nothing(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    result = await tiktok.create_campaign(account, CampaignSpec(name="x", daily_budget_minor=9_000), validate_only=True)
    assert isinstance(result, DryRun) and result.supported is False and result.ok is False
    campaign, _, _ = await _tree(tiktok, account)
    dry = await tiktok.set_daily_budget(account, "campaign", campaign.external_id, 99_000, validate_only=True)
    assert isinstance(dry, DryRun) and not dry.supported
    objects = await _objects(http, sandbox, account)
    assert len(objects) == 3 and objects[campaign.external_id]["budget_minor"] == 10_050


async def _deliver(http: httpx.AsyncClient, sandbox: RunningSandbox, account: AdAccountView, **row: Any) -> None:
    r = await http.post(f"{sandbox.base_url}/sandbox/delivery", json={"account": account.external_id, **row})
    assert r.status_code == 200, r.text


async def test_report_rows_per_day_at_campaign_and_ad_level(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign, adset, ad = await _tree(tiktok, account)
    ad2 = await tiktok.create_ad(
        account,
        CreativeSpec(
            adset_external_id=adset.external_id, name="v2", headline="h", body="b", link_url="https://x.example"
        ),
    )
    assert isinstance(ad2, AdObject)
    d1, d2 = date(2026, 3, 1), date(2026, 3, 2)
    await _deliver(http, sandbox, account, level="ad", id=ad.external_id, day="2026-03-01",
                   impressions=1000, clicks=31, spend_minor=1234, conversions=2)  # fmt: skip
    await _deliver(http, sandbox, account, level="ad", id=ad2.external_id, day="2026-03-01",
                   impressions=500, clicks=9, spend_minor=766, conversions=1)  # fmt: skip
    await _deliver(http, sandbox, account, level="ad", id=ad.external_id, day="2026-03-02",
                   impressions=10, clicks=1, spend_minor=5)  # fmt: skip
    ads = await tiktok.insights(account, "ad", d1, d2)
    assert [(r.external_id, r.day, r.impressions, r.clicks, r.spend_minor, r.conversions) for r in ads] == sorted(
        [
            (ad.external_id, d1, 1000, 31, 1234, 2.0),
            (ad2.external_id, d1, 500, 9, 766, 1.0),
            (ad.external_id, d2, 10, 1, 5, 0.0),
        ],
        key=lambda t: (t[1], t[0]),
    )
    assert {r.campaign_external_id for r in ads} == {campaign.external_id}
    campaigns = await tiktok.insights(account, "campaign", d1, d2)
    assert [(r.external_id, r.day, r.impressions, r.clicks, r.spend_minor, r.conversions) for r in campaigns] == [
        (campaign.external_id, d1, 1500, 40, 2000, 3.0),
        (campaign.external_id, d2, 10, 1, 5, 0.0),
    ]
    groups = await tiktok.insights(account, "adset", d1, d1)
    assert [(r.external_id, r.spend_minor) for r in groups] == [(adset.external_id, 2000)]
    assert (await tiktok.insights(account, "campaign", date(2026, 3, 3), date(2026, 3, 9))) == []


async def test_report_pages_and_long_ranges_are_followed(
    http: httpx.AsyncClient, sandbox: RunningSandbox, account: AdAccountView
) -> None:
    small = TikTokAdsConnector(http, TikTokSettings(page_size=2, backoff_initial_s=0.01))
    campaigns = [
        await small.create_campaign(account, CampaignSpec(name=f"c{i}", daily_budget_minor=6_000)) for i in range(3)
    ]
    assert len(await small.list_campaigns(account)) == 3  # 2 pages of campaign/get
    days = [date(2026, 1, d) for d in range(1, 32)] + [date(2026, 2, 1), date(2026, 2, 14)]
    for c in campaigns:
        assert isinstance(c, AdObject)
        for d in days:
            await _deliver(http, sandbox, account, level="campaign", id=c.external_id, day=d.isoformat(),
                           impressions=100, clicks=2, spend_minor=300)  # fmt: skip
    rows = await small.insights(account, "campaign", date(2026, 1, 1), date(2026, 2, 14))  # > 30 days, many pages
    assert len(rows) == 3 * len(days)
    assert sum(r.spend_minor for r in rows) == 300 * 3 * len(days)
    assert len({(r.external_id, r.day) for r in rows}) == len(rows)


async def test_simulated_delivery_spends_only_enabled_campaigns_within_budget(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    live, _, ad = await _tree(tiktok, account)
    paused, _, _ = await _tree(tiktok, account)
    for level, obj_id in (("campaign", live.external_id), ("ad", ad.external_id)):
        await tiktok.set_status(account, level, obj_id, "active")  # type: ignore[arg-type]
    r = await http.post(
        f"{sandbox.base_url}/sandbox/simulate", json={"account": account.external_id, "day": "2026-04-01"}
    )
    assert r.status_code == 200
    rows = await tiktok.insights(account, "campaign", date(2026, 4, 1), date(2026, 4, 1))
    assert [r.external_id for r in rows] == [live.external_id]
    assert 0 < rows[0].spend_minor <= 10_050
    again = await http.post(
        f"{sandbox.base_url}/sandbox/simulate", json={"account": account.external_id, "day": "2026-04-01"}
    )
    assert again.json()["rows"] == r.json()["rows"]  # deterministic
    assert paused.external_id not in {x["id"] for x in r.json()["rows"]}


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def test_events_are_hashed_and_deduplicated_by_event_id(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    pay = ConversionEvent(
        event_id="pay_123", kind="purchase", occurred_at=when, value_minor=15_990, currency="BRL",
        email=" Maria@Example.COM ", phone="+55 (11) 98765-4321", external_id="lead-42",
        click_id="E.C.P.abc123", click_id_kind="ttclid",
    )  # fmt: skip
    lead = ConversionEvent(event_id="lead_42", kind="lead", occurred_at=when, email="joao@example.com")
    results = await tiktok.send_conversions(account, [pay, lead])
    assert [(x.event_id, x.accepted) for x in results] == [("pay_123", True), ("lead_42", True)]
    await tiktok.send_conversions(account, [pay])  # a retry of the same payment
    r = await http.get(f"{sandbox.base_url}/sandbox/conversions", params={"account": account.external_id})
    body = r.json()
    by_id = {e["event_id"]: e for e in body["events"]}
    assert body["received_total"] == 3
    assert by_id["pay_123"]["received"] == 2 and by_id["pay_123"]["duplicates"] == 1
    assert by_id["lead_42"]["duplicates"] == 0
    assert by_id["pay_123"]["event"] == "CompletePayment" and by_id["lead_42"]["event"] == "SubmitForm"
    user = by_id["pay_123"]["user"]
    assert user == {
        "email": _sha("maria@example.com"),
        "phone": _sha("+5511987654321"),
        "external_id": _sha("lead-42"),
        "ttclid": "E.C.P.abc123",
    }
    assert by_id["pay_123"]["event_time"] == int(when.timestamp())
    assert by_id["pay_123"]["properties"] == {"currency": "BRL", "value": 159.9}
    assert "maria" not in r.text.lower() and "98765" not in r.text and "lead-42" not in r.text


async def test_events_with_clear_pii_are_refused_by_the_sandbox(
    http: httpx.AsyncClient, sandbox: RunningSandbox, account: AdAccountView
) -> None:
    body = {
        "event_source": "web",
        "event_source_id": PIXEL,
        "data": [{"event": "CompletePayment", "event_time": 1, "event_id": "x", "user": {"email": "a@b.c"}}],
    }
    r = await http.post(f"{sandbox.base_url}/open_api/v1.3/event/track/", json=body, headers={"Access-Token": TOKEN})
    assert r.status_code == 200 and r.json()["code"] == 40002


async def test_http_200_error_envelope_is_a_rejection_with_the_platform_code(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    raw = await http.post(
        f"{sandbox.base_url}/open_api/v1.3/campaign/create/",
        json={"advertiser_id": account.external_id, "campaign_name": "x", "objective_type": "NOPE"},
        headers={"Access-Token": TOKEN},
    )
    assert raw.status_code == 200 and raw.json()["code"] == 40002 and raw.json()["request_id"]
    with pytest.raises(AdsRequestRejected) as caught:  # under the 50 campaign minimum
        await tiktok.create_campaign(account, CampaignSpec(name="tiny", daily_budget_minor=4_999))
    assert caught.value.provider_code == "40002" and caught.value.platform == "tiktok"
    assert "at least 50" in str(caught.value)
    with pytest.raises(AdsRequestRejected):
        await tiktok.get_object(account, "campaign", "1234567")
    assert await _objects(http, sandbox, account) == {}


async def _fault(http: httpx.AsyncClient, sandbox: RunningSandbox, **body: Any) -> None:
    r = await http.post(f"{sandbox.base_url}/sandbox/faults", json=body)
    assert r.status_code == 200, r.text


async def test_rate_limit_code_is_retried_then_surfaced_as_rate_limited(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign, _, _ = await _tree(tiktok, account)
    await _fault(http, sandbox, operation="campaign/get/", kind="rate_limit", count=2)
    got = await tiktok.get_object(account, "campaign", campaign.external_id)  # 2 refusals, then success
    assert got.external_id == campaign.external_id
    await _fault(http, sandbox, operation="campaign/get/", kind="rate_limit", count=FAST.max_attempts)
    with pytest.raises(AdsRateLimited) as caught:
        await tiktok.list_campaigns(account)
    assert caught.value.provider_code == "40100" and caught.value.retriable
    # A create refused by the rate limit was not processed, so it is retried too.
    await _fault(http, sandbox, operation="adgroup/create/", kind="rate_limit", count=1)
    group = await tiktok.create_adset(
        account, AdSetSpec(campaign_external_id=campaign.external_id, name="again", daily_budget_minor=2_000)
    )
    assert isinstance(group, AdObject)
    groups = [o for o in (await _objects(http, sandbox, account)).values() if o["name"] == "again"]
    assert len(groups) == 1


async def test_transient_internal_errors_are_retried_with_backoff(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign, _, _ = await _tree(tiktok, account)
    await _fault(http, sandbox, operation="campaign/update/", kind="internal", count=1)
    await _fault(http, sandbox, operation="campaign/get/", kind="http_503", count=2)
    updated = await tiktok.set_daily_budget(account, "campaign", campaign.external_id, 15_000)
    assert isinstance(updated, AdObject) and updated.daily_budget_minor == 15_000
    await _fault(http, sandbox, operation="event/track/", kind="internal", count=1)
    event = ConversionEvent(event_id="e1", kind="lead", occurred_at=datetime.now(UTC), email="x@example.com")
    assert (await tiktok.send_conversions(account, [event]))[0].accepted
    # A create is NOT retried after an internal error: its outcome is unknown.
    await _fault(http, sandbox, operation="campaign/create/", kind="internal", count=1)
    with pytest.raises(AdsPlatformError) as caught:
        await tiktok.create_campaign(account, CampaignSpec(name="maybe", daily_budget_minor=9_000))
    assert caught.value.retriable and caught.value.provider_code == "50000"
    assert not isinstance(caught.value, AdsRateLimited)
    await _fault(http, sandbox, operation="campaign/get/", kind="http_503", count=FAST.max_attempts)
    with pytest.raises(AdsPlatformError) as still:
        await tiktok.list_campaigns(account)
    assert still.value.http_status == 503 and still.value.retriable


async def test_bad_token_is_auth_failed(
    tiktok: TikTokAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    wrong = _view(sandbox, account.external_id, token="revoked-token")
    with pytest.raises(AdsAuthFailed) as caught:
        await tiktok.list_campaigns(wrong)
    assert caught.value.provider_code == "40105"
    other = _view(sandbox, await _register(http, sandbox, access_token="another-token-xyz"))
    foreign = _view(sandbox, other.external_id)  # our token, someone else's advertiser
    with pytest.raises(AdsAuthFailed) as denied:
        await tiktok.list_campaigns(foreign)
    assert denied.value.provider_code == "40001"
    await _fault(http, sandbox, operation="*", kind="auth", count=1)
    with pytest.raises(AdsAuthFailed):
        await tiktok.send_conversions(
            account, [ConversionEvent(event_id="e", kind="lead", occurred_at=datetime.now(UTC))]
        )
