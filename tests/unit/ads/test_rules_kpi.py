"""Rules evaluation (pure) and the KPI ratios: the numbers a person would check by hand."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from core.errors import ValidationFailed
from tools.ads.kpi import KpiCounts, derived, kpi_sql, money_ratio, ratio, validate_range
from tools.ads.rules import Campaign, Rule, evaluate, idempotency_key, parse_rule
from tools.ads.sync import sync_window

DAY = date(2026, 11, 20)


def campaign(
    status: str = "active", budget: int | None = 10_000, ext: str = "c1", platform: str = "meta", age_days: int = 30
) -> Campaign:
    return Campaign(uuid4(), uuid4(), platform, ext, status, budget, DAY - timedelta(days=age_days))


def rule(kind: str, platform: str | None = None, **params: object) -> Rule:
    return Rule(uuid4(), kind, dict(params), platform)  # type: ignore[arg-type]


def win(days: int, c: Campaign, **counts: int | float) -> dict[int, dict[tuple[str, str], KpiCounts]]:
    return {days: {(c.platform, c.external_id): KpiCounts(**counts)}}  # type: ignore[arg-type]


# -- KPI math ------------------------------------------------------------------------------


def test_ratios_are_null_on_zero_denominators_not_zero() -> None:
    d = derived(KpiCounts())
    assert all(v is None for v in d.values())
    d = derived(KpiCounts(spend_minor=0, leads=4, customers=1))
    assert d["cpl_minor"] == 0 and d["conversion_rate"] == 0.25 and d["roas"] is None


def test_ratios_by_hand() -> None:
    c = KpiCounts(
        spend_minor=10_000,
        impressions=4_000,
        clicks=80,
        platform_conversions=3,
        leads=8,
        customers=2,
        revenue_minor=45_000,
    )
    d = derived(c)
    assert d["ctr"] == 0.02
    assert d["cpc_minor"] == 125  # R$ 1,25 per click
    assert d["cpm_minor"] == 2_500  # R$ 25,00 per 1000 impressions
    assert d["cpl_minor"] == 1_250
    assert d["cpa_minor"] == 3_333  # 10000 / 3 = 3333.33 → 3333
    assert d["cac_minor"] == 5_000
    assert d["roas"] == 4.5
    assert d["conversion_rate"] == 0.25


def test_money_ratio_rounds_half_up_and_ratio_digits() -> None:
    assert money_ratio(5, 2) == 3 and money_ratio(4, 3) == 1 and money_ratio(1, 0) is None
    assert ratio(1, 3) == 0.333333 and ratio(1, 0) is None


@pytest.mark.parametrize(
    ("first", "last", "group_by", "msg"),
    [
        (date(2026, 2, 2), date(2026, 2, 1), "source", "on or before"),
        (date(2025, 1, 1), date(2026, 1, 2), "source", "at most 366"),
        (date(2026, 1, 1), date(2026, 1, 2), "adset", "group_by"),
    ],
)
def test_validate_range_rejects_clearly(first: date, last: date, group_by: str, msg: str) -> None:
    with pytest.raises(ValidationFailed, match=msg):
        validate_range(first, last, group_by)


def test_validate_range_accepts_366_days_and_one_day() -> None:
    validate_range(date(2025, 1, 1), date(2026, 1, 1), "creative")  # 366 days inclusive
    validate_range(DAY, DAY, "campaign")


def test_kpi_sql_has_no_user_text_and_picks_the_level() -> None:
    assert "m.level = 'ad'" in kpi_sql("creative") and "m.level = 'campaign'" in kpi_sql("source")
    assert "America/Sao_Paulo" in kpi_sql("campaign")


def test_sync_window_is_rolling_plus_backfill() -> None:
    assert sync_window(DAY) == (DAY - timedelta(days=2), DAY)
    assert sync_window(DAY, 3, 10) == (DAY - timedelta(days=12), DAY)
    assert sync_window(DAY, 0, 10_000) == (DAY - timedelta(days=90), DAY)


# -- rules ---------------------------------------------------------------------------------


def test_stop_loss_pauses_above_cpa_only() -> None:
    c = campaign()
    r = rule("stop_loss", metric="cpa", max_minor=2_000, days=3)
    [p] = evaluate([r], [c], win(3, c, spend_minor=9_000, platform_conversions=4), DAY)  # CPA 2250
    assert p.kind == "set_status" and p.params["status"] == "paused" and p.object_id == c.object_id
    assert p.requested_by == f"rule:{r.id}" and p.idempotency_key == idempotency_key(r.id, c.object_id, DAY)
    assert evaluate([r], [c], win(3, c, spend_minor=8_000, platform_conversions=4), DAY) == []  # CPA 2000


def test_stop_loss_with_no_conversions_counts_spend_and_respects_min_spend() -> None:
    c = campaign()
    r = rule("stop_loss", metric="cpl", max_minor=2_000)
    assert evaluate([r], [c], win(3, c, spend_minor=2_500), DAY) != []  # 0 leads, R$25 spent > R$20
    assert evaluate([r], [c], win(3, c, spend_minor=1_500), DAY) == []  # under the max
    r2 = rule("stop_loss", metric="cpl", max_minor=100, min_spend_minor=5_000)
    assert evaluate([r2], [c], win(3, c, spend_minor=4_000), DAY) == []  # under min spend


def test_scale_up_raises_budget_by_step_when_roas_is_high() -> None:
    c = campaign(budget=10_000)
    r = rule("scale_up", min_roas=3, days=7, step_pct=20)
    [p] = evaluate([r], [c], win(7, c, spend_minor=10_000, revenue_minor=30_000), DAY)
    assert p.kind == "set_budget" and p.params["daily_budget_minor"] == 12_000
    assert evaluate([r], [c], win(7, c, spend_minor=10_000, revenue_minor=29_999), DAY) == []
    assert evaluate([r], [campaign(budget=None)], {}, DAY) == []


def test_pause_no_delivery_needs_n_days_of_life() -> None:
    r = rule("pause_no_delivery", days=3)
    old, new = campaign(ext="old"), campaign(ext="new", age_days=1)
    props = evaluate([r], [old, new], {3: {}}, DAY)
    assert [p.object_id for p in props] == [old.object_id]
    assert evaluate([r], [old], win(3, old, impressions=1), DAY) == []


def test_rules_skip_paused_campaigns_and_other_platforms() -> None:
    r = rule("pause_no_delivery", platform="google")
    assert evaluate([r], [campaign(status="paused", platform="google"), campaign(platform="meta")], {}, DAY) == []


def test_same_day_same_key_next_day_new_key() -> None:
    rid, oid = UUID(int=1), UUID(int=2)
    assert idempotency_key(rid, oid, DAY) == idempotency_key(rid, oid, DAY)
    assert idempotency_key(rid, oid, DAY) != idempotency_key(rid, oid, DAY + timedelta(days=1))


def test_bad_rule_params_are_skipped_not_fatal() -> None:
    base = {"id": uuid4(), "name": "x", "platform": None}
    assert parse_rule({**base, "kind": "stop_loss", "params": {}}) is None
    assert parse_rule({**base, "kind": "stop_loss", "params": {"max_minor": 1, "metric": "ctr"}}) is None
    assert parse_rule({**base, "kind": "scale_up", "params": {"min_roas": "x"}}) is None
    ok = parse_rule({**base, "kind": "pause_no_delivery", "params": {"days": 5}})
    assert ok is not None and ok.days == 5


def test_lucy_asks_for_kpis_by_creative_when_asked_about_creatives() -> None:
    from actors.lucy import Lucy
    from actors.planning import Turn

    plan = Lucy().plan(Turn("lucy", "qual criativo tem o melhor ROAS nos últimos 14 dias?", {}, [], [], {"get_kpis"}))
    assert plan.calls[0] == ("get_kpis", {"group_by": "creative", "days": 14})
