"""What a run cost: tokens times the price of its model in a versioned price table.

The table (``prices.json`` next to this module, or ``Settings.ai_price_table``) holds
versions, each with an ``effective_from`` date and USD prices per million input and output
tokens per model. A run is priced with the newest version in effect on the day it ran, and
the version is stored with the run (``agent_runs.price_version``), so a price change never
rewrites history. A model the table does not list falls back to ``LLM_PRICE_IN_PER_MTOK`` /
``LLM_PRICE_OUT_PER_MTOK`` (version ``settings``), else it is recorded as ``unpriced``.
The offline model is always free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from core.settings import Settings

from ..offline_model import MODEL_NAME as OFFLINE_MODEL

DEFAULT_TABLE = Path(__file__).with_name("prices.json")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True, slots=True)
class PriceVersion:
    version: str
    effective_from: date
    models: dict[str, ModelPrice]


@dataclass(frozen=True, slots=True)
class Priced:
    cost_usd: float
    price_version: str


class PriceTable:
    def __init__(self, versions: list[PriceVersion]):
        if not versions:
            raise ValueError("a price table needs at least one version")
        self.versions = sorted(versions, key=lambda v: v.effective_from)
        if len({v.version for v in versions}) != len(versions):
            raise ValueError("price table versions must be unique")

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> PriceTable:
        versions_raw = raw.get("versions")
        if not isinstance(versions_raw, list):
            raise ValueError("price table: 'versions' must be a list")
        versions = []
        for v in versions_raw:
            models = {name: ModelPrice(float(p["input"]), float(p["output"])) for name, p in dict(v["models"]).items()}
            if any(p.input_per_mtok < 0 or p.output_per_mtok < 0 for p in models.values()):
                raise ValueError(f"price table {v['version']}: negative price")
            versions.append(PriceVersion(str(v["version"]), date.fromisoformat(str(v["effective_from"])), models))
        return cls(versions)

    def in_effect(self, on: date) -> PriceVersion | None:
        current = None
        for v in self.versions:
            if v.effective_from <= on:
                current = v
        return current


@lru_cache(maxsize=8)
def load_table(path: str) -> PriceTable:
    """Read once per process and path (the file is data shipped with the code)."""
    return PriceTable.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def table_for(settings: Settings) -> PriceTable:
    return load_table(str(settings.ai_price_table or DEFAULT_TABLE))


def model_id(model_name: str) -> str:
    """``openai-compatible:gpt-4o-mini`` → ``gpt-4o-mini`` (how runs name their model)."""
    return model_name.split(":", 1)[1] if model_name.startswith("openai-compatible:") else model_name


def price_run(
    settings: Settings, model_name: str, tokens_in: int, tokens_out: int, at: datetime | None = None
) -> Priced:
    if model_name == OFFLINE_MODEL:  # runs on our CPU: free whatever the table says
        return Priced(0.0, "offline")
    day = (at or datetime.now(UTC)).astimezone(UTC).date()
    version = table_for(settings).in_effect(day)
    price = version.models.get(model_id(model_name)) if version else None
    if price is not None and version is not None:
        label = version.version
    elif settings.llm_price_in_per_mtok or settings.llm_price_out_per_mtok:
        price, label = ModelPrice(settings.llm_price_in_per_mtok, settings.llm_price_out_per_mtok), "settings"
    else:
        return Priced(0.0, "unpriced")
    cost = (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1_000_000
    return Priced(round(cost, 8), label)


__all__ = ["DEFAULT_TABLE", "ModelPrice", "PriceTable", "PriceVersion", "Priced", "load_table", "model_id", "price_run"]
