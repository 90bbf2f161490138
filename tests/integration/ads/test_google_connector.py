"""GoogleAdsConnector against the Google Ads sandbox over a real socket (no mocks)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

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
from tools.ads.google import GoogleAdsConnector, hashed_email, hashed_phone
from tools.ads.google.sandbox import RunningSandbox, running_sandbox

CUSTOMER = "1234567890"
TOKEN = "ya29.sandbox-token"
ACTION = "7001"


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(stream_batch_size=2) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest_asyncio.fixture
async def account(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AdAccountView:
    r = await http.post(
        f"{sandbox.base_url}/sandbox/accounts",
        json={
            "customer_id": CUSTOMER,
            "access_token": TOKEN,
            "developer_token": "dev",
            "conversion_action_ids": [ACTION],
        },
    )
    assert r.status_code == 201
    return view(sandbox, TOKEN)


def view(sandbox: RunningSandbox, token: str) -> AdAccountView:
    return AdAccountView(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        platform="google",
        external_id="123-456-7890",
        currency="BRL",
        timezone="America/Sao_Paulo",
        base_url=sandbox.base_url,
        config={"conversion_action_id": ACTION},
        secrets={"access_token": SecretStr(token), "developer_token": SecretStr("dev")},
    )


@pytest.fixture
def google(http: httpx.AsyncClient) -> GoogleAdsConnector:
    return GoogleAdsConnector(http, "v26", backoff_initial_s=0.01, backoff_max_s=0.05, max_retry_wait_s=1.0)


async def objects(http: httpx.AsyncClient, sandbox: RunningSandbox) -> list[dict[str, Any]]:
    r = await http.get(f"{sandbox.base_url}/sandbox/objects", params={"account": CUSTOMER})
    assert r.status_code == 200
    return list(r.json())


async def fault(http: httpx.AsyncClient, sandbox: RunningSandbox, **body: Any) -> None:
    r = await http.post(f"{sandbox.base_url}/sandbox/faults", json=body)
    assert r.status_code == 200


async def delivery(http: httpx.AsyncClient, sandbox: RunningSandbox, **body: Any) -> None:
    r = await http.post(f"{sandbox.base_url}/sandbox/delivery", json={"account": CUSTOMER, **body})
    assert r.status_code == 200, r.text


async def new_campaign(google: GoogleAdsConnector, account: AdAccountView, name: str, budget: int) -> AdObject:
    created = await google.create_campaign(account, CampaignSpec(name=name, daily_budget_minor=budget))
    assert isinstance(created, AdObject)
    return created


async def test_campaign_created_paused_with_budget_in_micros(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    created = await new_campaign(google, account, "Pizzaria Centro", 5_050)  # R$ 50,50
    assert created.status == "paused" and created.daily_budget_minor == 5_050

    objs = await objects(http, sandbox)
    campaign = next(o for o in objs if o["level"] == "campaign")
    budget = next(o for o in objs if o["level"] == "budget")
    assert campaign["id"] == created.external_id
    assert campaign["status"] == "PAUSED"
    assert campaign["contains_eu_political_advertising"] == "DOES_NOT_CONTAIN_EU_POLITICAL_ADVERTISING"
    assert budget["amount_micros"] == 50_500_000 and budget["amount_minor"] == 5_050
    assert campaign["daily_budget_micros"] == 50_500_000

    read = await google.get_object(account, "campaign", created.external_id)
    assert (read.status, read.daily_budget_minor, read.name) == ("paused", 5_050, "Pizzaria Centro")
    assert [c.external_id for c in await google.list_campaigns(account)] == [created.external_id]


async def test_status_and_budget_changes(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    created = await new_campaign(google, account, "Loja", 10_000)
    active = await google.set_status(account, "campaign", created.external_id, "active")
    assert isinstance(active, AdObject) and active.status == "active"
    assert next(o for o in await objects(http, sandbox) if o["level"] == "campaign")["status"] == "ENABLED"

    changed = await google.set_daily_budget(account, "campaign", created.external_id, 12_001)
    assert isinstance(changed, AdObject) and changed.daily_budget_minor == 12_001
    budget = next(o for o in await objects(http, sandbox) if o["level"] == "budget")
    assert budget["amount_micros"] == 120_010_000

    paused = await google.set_status(account, "campaign", created.external_id, "paused")
    assert isinstance(paused, AdObject) and paused.status == "paused"
    with pytest.raises(AdsRequestRejected):
        await google.set_status(account, "campaign", created.external_id, "archived")  # Google has no archive


async def test_validate_only_changes_nothing(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    dry = await google.create_campaign(
        account, CampaignSpec(name="Ensaio", daily_budget_minor=3_000), validate_only=True
    )
    assert isinstance(dry, DryRun) and dry.supported and dry.ok
    assert await objects(http, sandbox) == []

    created = await new_campaign(google, account, "Real", 3_000)
    dry_status = await google.set_status(account, "campaign", created.external_id, "active", validate_only=True)
    dry_budget = await google.set_daily_budget(account, "campaign", created.external_id, 9_000, validate_only=True)
    assert isinstance(dry_status, DryRun) and isinstance(dry_budget, DryRun)
    objs = await objects(http, sandbox)
    assert next(o for o in objs if o["level"] == "campaign")["status"] == "PAUSED"
    assert next(o for o in objs if o["level"] == "budget")["amount_minor"] == 3_000

    # a dry run that Google would refuse is refused, not faked
    with pytest.raises(AdsRequestRejected) as info:
        await google.create_campaign(account, CampaignSpec(name="Real", daily_budget_minor=1_000), validate_only=True)
    assert info.value.provider_code == "campaignError.DUPLICATE_CAMPAIGN_NAME"


async def test_partial_failure_is_reported_per_operation(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    a = await new_campaign(google, account, "A", 2_000)
    b = await new_campaign(google, account, "B", 2_000)
    ops = [
        {
            "update": {"resourceName": f"customers/{CUSTOMER}/campaigns/{a.external_id}", "status": "ENABLED"},
            "updateMask": "status",
        },
        {
            "update": {"resourceName": f"customers/{CUSTOMER}/campaigns/999999", "status": "ENABLED"},
            "updateMask": "status",
        },
        {
            "update": {"resourceName": f"customers/{CUSTOMER}/campaigns/{b.external_id}", "status": "BOGUS"},
            "updateMask": "status",
        },
    ]
    outcome = await google.mutate(account, "campaigns", ops, partial_failure=True)
    assert outcome.results[0] == f"customers/{CUSTOMER}/campaigns/{a.external_id}"
    assert outcome.results[1] is None and outcome.results[2] is None
    assert [e.code for e in outcome.errors[1]] == ["mutateError.RESOURCE_NOT_FOUND"]
    assert [e.code for e in outcome.errors[2]] == ["fieldError.INVALID_VALUE"]
    statuses = {o["id"]: o["status"] for o in await objects(http, sandbox) if o["level"] == "campaign"}
    assert statuses == {a.external_id: "ENABLED", b.external_id: "PAUSED"}

    # without partialFailure the same request is all-or-nothing
    with pytest.raises(AdsRequestRejected) as info:
        await google.mutate(
            account, "campaigns", [ops[2], {**ops[0], "update": {**ops[0]["update"], "status": "PAUSED"}}]
        )
    assert info.value.details["errors"][0]["index"] == 0
    statuses = {o["id"]: o["status"] for o in await objects(http, sandbox) if o["level"] == "campaign"}
    assert statuses[a.external_id] == "ENABLED"


async def test_insights_per_day_at_campaign_adgroup_and_ad_level(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign = await new_campaign(google, account, "Delivery", 20_000)
    group = await google.create_adset(account, AdSetSpec(campaign_external_id=campaign.external_id, name="Grupo 1"))
    assert isinstance(group, AdObject) and group.status == "paused"
    spec = CreativeSpec(
        adset_external_id=group.external_id,
        name="RSA 1",
        headline="Pizza no forno a lenha\nEntrega em 30 min\nPeça pelo WhatsApp",
        body="Massa artesanal e ingredientes frescos.\nPeça agora e ganhe a bebida.",
        link_url="https://pizzaria.example.com.br/",
    )
    ad = await google.create_ad(account, spec)
    assert isinstance(ad, AdObject) and ad.status == "paused" and "~" in ad.external_id
    ad2 = await google.create_ad(account, spec.model_copy(update={"name": "RSA 2"}))
    assert isinstance(ad2, AdObject)

    await delivery(
        http,
        sandbox,
        level="ad",
        id=ad.external_id,
        day="2026-01-05",
        impressions=1000,
        clicks=40,
        spend_minor=1_234,
        conversions=2,
        conversion_value_minor=15_000,
    )
    await delivery(
        http, sandbox, level="ad", id=ad2.external_id, day="2026-01-05", impressions=500, clicks=10, spend_minor=766
    )
    await delivery(
        http, sandbox, level="ad", id=ad.external_id, day="2026-01-06", impressions=300, clicks=3, spend_minor=99
    )
    await delivery(
        http, sandbox, level="ad", id=ad.external_id, day="2026-02-01", impressions=9, clicks=9, spend_minor=9
    )  # outside the range

    rows = await google.insights(account, "campaign", date(2026, 1, 1), date(2026, 1, 31))
    by_day = {r.day: r for r in rows}
    assert set(by_day) == {date(2026, 1, 5), date(2026, 1, 6)}
    assert (by_day[date(2026, 1, 5)].impressions, by_day[date(2026, 1, 5)].clicks) == (1500, 50)
    assert by_day[date(2026, 1, 5)].spend_minor == 2_000
    assert by_day[date(2026, 1, 5)].conversions == 2.0 and by_day[date(2026, 1, 5)].conversion_value_minor == 15_000
    assert by_day[date(2026, 1, 6)].spend_minor == 99
    assert by_day[date(2026, 1, 5)].raw["metrics"]["costMicros"] == "20000000"  # int64 as a JSON string

    ad_rows = await google.insights(account, "ad", date(2026, 1, 1), date(2026, 1, 31))
    assert sorted((r.external_id, r.day, r.spend_minor) for r in ad_rows) == sorted(
        [
            (ad.external_id, date(2026, 1, 5), 1_234),
            (ad2.external_id, date(2026, 1, 5), 766),
            (ad.external_id, date(2026, 1, 6), 99),
        ]
    )
    assert {r.campaign_external_id for r in ad_rows} == {campaign.external_id}
    group_rows = await google.insights(account, "adset", date(2026, 1, 5), date(2026, 1, 5))
    assert [(r.external_id, r.spend_minor, r.impressions) for r in group_rows] == [(group.external_id, 2_000, 1500)]


async def test_simulate_delivers_only_enabled_within_budget(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    live = await new_campaign(google, account, "Live", 10_000)
    idle = await new_campaign(google, account, "Idle", 10_000)
    await google.set_status(account, "campaign", live.external_id, "active")
    r = await http.post(f"{sandbox.base_url}/sandbox/simulate", json={"account": CUSTOMER, "day": "2026-03-10"})
    assert r.status_code == 200
    rows = await google.insights(account, "campaign", date(2026, 3, 10), date(2026, 3, 10))
    assert [row.external_id for row in rows] == [live.external_id]
    assert 0 < rows[0].spend_minor <= 10_000
    assert idle.external_id not in {row.external_id for row in rows}


async def test_click_conversion_upload_hashing_and_dedupe(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    when = datetime(2026, 1, 10, 15, 30, 0, tzinfo=UTC)
    purchase = ConversionEvent(
        event_id="pay_1",
        kind="purchase",
        occurred_at=when,
        value_minor=12_990,
        click_id="Cj0KCQ-test-gclid",
        click_id_kind="gclid",
        email="Maria.Souza@Gmail.com ",
    )
    lead = ConversionEvent(event_id="lead_1", kind="lead", occurred_at=when, phone="5511987654321")
    nothing = ConversionEvent(event_id="lead_2", kind="lead", occurred_at=when)
    results = await google.send_conversions(account, [purchase, lead, nothing])
    assert [(r.accepted, r.duplicate) for r in results] == [(True, False), (True, False), (False, False)]
    assert results[2].error and results[2].error.startswith("not sent")

    again = await google.send_conversions(account, [purchase])
    assert (
        again[0].accepted and again[0].duplicate and again[0].error == "conversionUploadError.ORDER_ID_ALREADY_IN_USE"
    )

    r = await http.get(f"{sandbox.base_url}/sandbox/conversions", params={"account": CUSTOMER})
    received = r.json()
    assert len(received) == 2
    first = received[0]
    assert first["orderId"] == "pay_1" and first["duplicates"] == 1
    assert first["gclid"] == "Cj0KCQ-test-gclid"
    assert first["conversionDateTime"] == "2026-01-10 12:30:00-03:00"  # account time zone, Google's format
    assert first["conversionAction"] == f"customers/{CUSTOMER}/conversionActions/{ACTION}"
    assert first["conversionValue"] == 129.9 and first["currencyCode"] == "BRL"
    assert first["userIdentifiers"] == [{"hashedEmail": hashed_email("mariasouza@gmail.com")}]
    assert "maria" not in str(received).lower()
    assert received[1]["userIdentifiers"] == [{"hashedPhoneNumber": hashed_phone("+5511987654321")}]
    assert "gclid" not in received[1] and received[1]["duplicates"] == 0


async def test_quota_error_with_long_retry_delay_raises_rate_limited(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    await fault(http, sandbox, operation="searchStream", kind="rate_limit", count=1, retry_delay_s=30)
    with pytest.raises(AdsRateLimited) as info:
        await google.list_campaigns(account)
    assert info.value.retry_after_s == 30.0 and info.value.retriable
    assert info.value.provider_code == "quotaError.RESOURCE_EXHAUSTED" and info.value.http_status == 429


async def test_quota_error_with_short_retry_delay_is_waited_out(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    await fault(http, sandbox, operation="mutate", kind="rate_limit", count=1, retry_delay_s=0.05)
    created = await new_campaign(google, account, "Depois da cota", 1_000)  # a create: retried only on quota
    assert created.status == "paused"
    assert len([o for o in await objects(http, sandbox) if o["level"] == "campaign"]) == 1


async def test_5xx_is_retried_with_backoff_then_succeeds(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    created = await new_campaign(google, account, "Retry", 1_000)
    await fault(http, sandbox, operation="searchStream", kind="unavailable", count=2)
    assert (await google.get_object(account, "campaign", created.external_id)).external_id == created.external_id
    assert all(f.remaining == 0 for f in sandbox.sandbox.store.faults)

    await fault(http, sandbox, operation="searchStream", kind="internal", count=10)
    with pytest.raises(AdsPlatformError) as info:
        await google.list_campaigns(account)
    assert info.value.retriable and info.value.http_status == 500


async def test_5xx_on_a_create_is_not_blindly_retried(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    await fault(http, sandbox, operation="mutate", kind="unavailable", count=1)
    with pytest.raises(AdsPlatformError) as info:
        await google.create_campaign(account, CampaignSpec(name="Uma vez", daily_budget_minor=1_000))
    assert not info.value.retriable and info.value.http_status == 503
    assert sandbox.sandbox.store.faults[0].remaining == 0  # one attempt only


async def test_bad_token_is_auth_failed(
    google: GoogleAdsConnector, account: AdAccountView, sandbox: RunningSandbox
) -> None:
    with pytest.raises(AdsAuthFailed) as info:
        await google.list_campaigns(view(sandbox, "expired-token"))
    assert info.value.provider_code == "authenticationError.OAUTH_TOKEN_INVALID"


async def test_invalid_requests_are_rejected_with_googles_code(
    google: GoogleAdsConnector, account: AdAccountView
) -> None:
    with pytest.raises(AdsRequestRejected) as info:
        await google.search(account, "SELECT campaign.id, metrics.bogus FROM campaign")
    assert info.value.provider_code == "queryError.UNRECOGNIZED_FIELD"
    with pytest.raises(AdsRequestRejected) as info:
        await google.search(account, "SELECT campaign.id FROM keyword_view")
    assert info.value.provider_code == "queryError.PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE"
    with pytest.raises(AdsRequestRejected) as info:
        await google.search(account, "SELECT campaign.id, segments.date FROM campaign")
    assert info.value.provider_code == "queryError.EXPECTED_FILTERS_ON_DATE_RANGE"

    await new_campaign(google, account, "Igual", 1_000)
    with pytest.raises(AdsRequestRejected) as info:
        await google.create_campaign(account, CampaignSpec(name="Igual", daily_budget_minor=1_000))
    assert info.value.provider_code == "campaignError.DUPLICATE_CAMPAIGN_NAME"
    assert info.value.details["errors"][0]["index"] == 1  # the campaign operation, after the budget

    campaign = await new_campaign(google, account, "RSA", 1_000)
    group = await google.create_adset(account, AdSetSpec(campaign_external_id=campaign.external_id, name="G"))
    assert isinstance(group, AdObject)
    with pytest.raises(AdsRequestRejected) as info:
        await google.create_ad(
            account,
            CreativeSpec(
                adset_external_id=group.external_id,
                name="curto",
                headline="Só um título",
                body="Uma\nDuas",
                link_url="https://example.com/",
            ),
        )
    assert info.value.provider_code == "adError.TOO_FEW_HEADLINES"


async def test_ad_group_and_ad_status_changes(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    campaign = await new_campaign(google, account, "Níveis", 1_000)
    group = await google.create_adset(account, AdSetSpec(campaign_external_id=campaign.external_id, name="G"))
    assert isinstance(group, AdObject)
    ad = await google.create_ad(
        account,
        CreativeSpec(
            adset_external_id=group.external_id,
            name="A",
            headline="Um\nDois\nTrês",
            body="Primeira descrição.\nSegunda descrição.",
            link_url="https://example.com/",
        ),
    )
    assert isinstance(ad, AdObject)
    g = await google.set_status(account, "adset", group.external_id, "active")
    a = await google.set_status(account, "ad", ad.external_id, "active")
    assert isinstance(g, AdObject) and g.status == "active" and g.parent_external_id == campaign.external_id
    assert isinstance(a, AdObject) and a.status == "active" and a.parent_external_id == group.external_id
    statuses = {o["level"]: o["status"] for o in await objects(http, sandbox)}
    assert statuses["adset"] == "ENABLED" and statuses["ad"] == "ENABLED" and statuses["campaign"] == "PAUSED"
    with pytest.raises(AdsRequestRejected):
        await google.set_daily_budget(account, "adset", group.external_id, 500)  # budgets belong to campaigns


async def test_conversion_upload_retried_after_5xx_counts_once(
    google: GoogleAdsConnector, account: AdAccountView, http: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    await fault(http, sandbox, operation="uploadClickConversions", kind="unavailable", count=1)
    event = ConversionEvent(
        event_id="pay_9",
        kind="purchase",
        occurred_at=datetime(2026, 1, 11, 9, 0, tzinfo=UTC),
        value_minor=5_000,
        click_id="gclid-9",
        click_id_kind="gclid",
    )
    [result] = await google.send_conversions(account, [event])
    assert result.accepted and not result.duplicate
    received = (await http.get(f"{sandbox.base_url}/sandbox/conversions", params={"account": CUSTOMER})).json()
    assert [(c["orderId"], c["duplicates"]) for c in received] == [("pay_9", 0)]
