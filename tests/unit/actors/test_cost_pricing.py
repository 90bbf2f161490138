"""Pricing runs from the versioned price table (no services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.cost.pricing import DEFAULT_TABLE, PriceTable, model_id, price_run
from core.settings import Settings

TABLE = {
    "versions": [
        {"version": "v2", "effective_from": "2026-06-01", "models": {"m": {"input": 2.0, "output": 8.0}}},
        {"version": "v1", "effective_from": "2026-01-01", "models": {"m": {"input": 1.0, "output": 4.0}}},
    ]
}


def _settings(tmp_path: Path, **extra: object) -> Settings:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(TABLE), encoding="utf-8")
    return Settings.model_validate({"ai_price_table": str(path), **extra})


def test_the_version_in_effect_on_the_day_of_the_run_prices_it(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    march = price_run(s, "openai-compatible:m", 1_000_000, 500_000, datetime(2026, 3, 5, tzinfo=UTC))
    assert (march.cost_usd, march.price_version) == (1.0 + 2.0, "v1")
    july = price_run(s, "openai-compatible:m", 1_000_000, 500_000, datetime(2026, 7, 1, tzinfo=UTC))
    assert (july.cost_usd, july.price_version) == (2.0 + 4.0, "v2")
    # Before the first version nothing is in effect: not priced, not guessed.
    assert price_run(s, "m", 10, 10, datetime(2025, 12, 31, tzinfo=UTC)).price_version == "unpriced"


def test_unknown_models_fall_back_to_settings_prices_or_are_unpriced(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert price_run(s, "openai-compatible:other", 1000, 1000).price_version == "unpriced"
    priced = _settings(tmp_path, llm_price_in_per_mtok=3.0, llm_price_out_per_mtok=6.0)
    got = price_run(priced, "openai-compatible:other", 1_000_000, 1_000_000)
    assert (got.cost_usd, got.price_version) == (9.0, "settings")
    # The offline model never falls back to a paid price.
    assert price_run(priced, "offline-grounded-v1", 1_000_000, 1_000_000).cost_usd == 0.0


def test_the_shipped_table_is_valid_and_prices_the_offline_model_at_zero() -> None:
    table = PriceTable.from_dict(json.loads(DEFAULT_TABLE.read_text(encoding="utf-8")))
    current = table.in_effect(datetime.now(UTC).date())
    assert current is not None
    assert current.models["offline-grounded-v1"].input_per_mtok == 0.0
    assert all(p.input_per_mtok >= 0 and p.output_per_mtok >= 0 for p in current.models.values())
    assert model_id("openai-compatible:gpt-4o-mini") == "gpt-4o-mini" and model_id("offline-grounded-v1") == (
        "offline-grounded-v1"
    )


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        PriceTable.from_dict(
            {
                "versions": [
                    {"version": "x", "effective_from": "2026-01-01", "models": {"m": {"input": -1, "output": 0}}}
                ]
            }
        )
    with pytest.raises(ValueError, match="unique"):
        PriceTable.from_dict({"versions": [TABLE["versions"][0], TABLE["versions"][0]]})
