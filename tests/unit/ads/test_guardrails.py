"""tools.ads.guardrails: pure checks, no services."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tools.ads.guardrails import ObjectState, Policy, Snapshot, evaluate, max_allowed_budget, needs_approval

POLICY = Policy(daily_cap_minor=30_000, monthly_cap_minor=600_000)
DAY = date(2026, 12, 3)  # 29 days left in December, today included


def rules(v: object) -> list[str]:
    return [x.rule for x in v.violations]  # type: ignore[attr-defined]


def test_activation_needs_approval_and_fits_the_daily_cap() -> None:
    paused = ObjectState("paused", 10_000)
    ok = evaluate(POLICY, "set_status", {"status": "active"}, paused, Snapshot(DAY, other_active_daily_minor=10_000))
    assert ok.ok and ok.needs_approval
    over = evaluate(POLICY, "set_status", {"status": "active"}, paused, Snapshot(DAY, other_active_daily_minor=25_000))
    assert rules(over)[0] == "daily_cap" and "R$ 350,00" in over.reason() and "R$ 300,00" in over.reason()


def test_no_daily_cap_means_nothing_goes_live() -> None:
    v = evaluate(Policy(), "set_status", {"status": "active"}, ObjectState("paused", 1_000), Snapshot(DAY))
    assert rules(v) == ["no_daily_cap"] and "PUT /admin/ads/policy" in v.reason()


def test_monthly_projection() -> None:
    # 100 000 spent + 20 000 a day for 29 days = 680 000 > 600 000
    snap = Snapshot(DAY, other_active_daily_minor=10_000, month_spend_minor=100_000)
    v = evaluate(POLICY, "set_status", {"status": "active"}, ObjectState("paused", 10_000), snap)
    assert snap.days_left == 29 and rules(v) == ["monthly_cap"] and "R$ 6.800,00" in v.reason()


def test_step_limit_on_raises_only() -> None:
    active = ObjectState("active", 10_000)
    assert evaluate(POLICY, "set_budget", {"daily_budget_minor": 12_000}, active, Snapshot(DAY)).ok
    v = evaluate(POLICY, "set_budget", {"daily_budget_minor": 15_000}, active, Snapshot(DAY))
    assert rules(v) == ["max_step", "max_daily_change"] and "50 %" in v.reason() and "R$ 120,00" in v.reason()
    cut = evaluate(POLICY, "set_budget", {"daily_budget_minor": 1_000}, active, Snapshot(DAY))
    assert cut.ok and not cut.needs_approval  # cuts are never limited


def test_daily_cumulative_raises() -> None:
    active = ObjectState("active", 12_000)
    snap = Snapshot(DAY, day_start_budget_minor=10_000, day_raised_minor=2_000)
    assert evaluate(POLICY, "set_budget", {"daily_budget_minor": 14_000}, active, snap).ok  # 40 % of 10 000
    v = evaluate(POLICY, "set_budget", {"daily_budget_minor": 14_400}, active, snap)
    assert rules(v) == ["max_daily_change"]


def test_a_raise_on_a_paused_object_is_checked_for_steps_not_caps() -> None:
    paused = ObjectState("paused", 20_000)
    v = evaluate(Policy(daily_cap_minor=1), "set_budget", {"daily_budget_minor": 24_000}, paused, Snapshot(DAY))
    assert v.ok and v.needs_approval  # the cap is checked when it is activated


def test_creates_are_paused_and_checked_against_the_cap() -> None:
    assert not needs_approval("create_campaign", None, {"daily_budget_minor": 1})
    v = evaluate(POLICY, "create_campaign", {"daily_budget_minor": 10_000_000}, None, Snapshot(DAY))
    assert rules(v) == ["daily_cap"]
    assert evaluate(Policy(), "create_campaign", {"daily_budget_minor": 5_000}, None, Snapshot(DAY)).ok


def test_pause_and_unknown_budget() -> None:
    assert not needs_approval("set_status", ObjectState("active", 1), {"status": "paused"})
    v = evaluate(POLICY, "set_budget", {"daily_budget_minor": 5_000}, ObjectState("paused", None), Snapshot(DAY))
    assert rules(v) == ["unknown_budget"]


def test_max_allowed_budget() -> None:
    p = Policy(daily_cap_minor=30_000, max_step_pct=Decimal(20))
    assert max_allowed_budget(p, ObjectState("active", 10_000), Snapshot(DAY)) == 12_000
    assert (
        max_allowed_budget(p, ObjectState("active", 10_000), Snapshot(DAY, other_active_daily_minor=19_000)) == 11_000
    )
