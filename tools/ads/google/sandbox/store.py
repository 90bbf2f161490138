"""The sandbox's in-memory state: accounts (customers), their objects, delivery rows,
received conversions and injected faults. Plain dicts of Google's own field names."""

from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..units import micros_per_minor, minor_exponent


@dataclass
class Delivery:
    impressions: int = 0
    clicks: int = 0
    spend_minor: int = 0
    conversions: float = 0.0
    conversion_value_minor: int = 0

    def add(self, other: Delivery) -> Delivery:
        return Delivery(
            self.impressions + other.impressions,
            self.clicks + other.clicks,
            self.spend_minor + other.spend_minor,
            self.conversions + other.conversions,
            self.conversion_value_minor + other.conversion_value_minor,
        )

    @property
    def empty(self) -> bool:
        return not (self.impressions or self.clicks or self.spend_minor or self.conversions)


@dataclass
class Objects:
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    ad_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    ads: dict[str, dict[str, Any]] = field(default_factory=dict)  # key "adGroupId~adId"


@dataclass
class Account:
    customer_id: str
    access_token: str
    developer_token: str | None
    currency: str
    time_zone: str
    conversion_action_ids: tuple[str, ...]
    objects: Objects = field(default_factory=Objects)
    # (level, external id, day) -> explicit delivery; level is campaign | adset | ad
    delivery: dict[tuple[str, str, date], Delivery] = field(default_factory=dict)
    conversions: list[dict[str, Any]] = field(default_factory=list)
    order_keys: dict[tuple[str, str], int] = field(default_factory=dict)
    click_keys: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @property
    def step_micros(self) -> int:
        return micros_per_minor(self.currency)

    @property
    def exponent(self) -> int:
        return minor_exponent(self.currency)

    def rn(self, collection: str, ident: str) -> str:
        return f"customers/{self.customer_id}/{collection}/{ident}"

    # --- delivery roll-up: an object's own explicit row wins, else the sum of its children
    def ad_total(self, key: str, day: date) -> Delivery:
        return (
            self.delivery.get(("ad", key, day))
            or self.delivery.get(("ad", key.rsplit("~", maxsplit=1)[-1], day))
            or Delivery()
        )

    def ad_group_total(self, ad_group_id: str, day: date) -> Delivery:
        own = self.delivery.get(("adset", ad_group_id, day))
        if own is not None:
            return own
        total = Delivery()
        for key, ad in self.objects.ads.items():
            if ad["adGroupId"] == ad_group_id:
                total = total.add(self.ad_total(key, day))
        return total

    def campaign_total(self, campaign_id: str, day: date) -> Delivery:
        own = self.delivery.get(("campaign", campaign_id, day))
        if own is not None:
            return own
        total = Delivery()
        for ag_id, ag in self.objects.ad_groups.items():
            if ag["campaignId"] == campaign_id:
                total = total.add(self.ad_group_total(ag_id, day))
        return total

    def days(self) -> list[date]:
        return sorted({d for (_, _, d) in self.delivery})


@dataclass
class Fault:
    operation: str  # mutate | searchStream | uploadClickConversions | *
    kind: str  # rate_limit | unavailable | internal
    remaining: int
    retry_delay_s: float | None = None


class Store:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.accounts: dict[str, Account] = {}
        self.faults: list[Fault] = []
        self._ids = itertools.count(100_001)

    def next_id(self) -> str:
        return str(next(self._ids))

    def reset(self) -> None:
        self.accounts.clear()
        self.faults.clear()
        self._ids = itertools.count(100_001)

    def take_fault(self, operation: str) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.operation in (operation, "*"):
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def snapshot(objects: Objects) -> Objects:
        return copy.deepcopy(objects)

    def unit_interval(self, *parts: object) -> float:
        digest = hashlib.sha256(":".join(str(p) for p in (self.seed, *parts)).encode()).hexdigest()
        return int(digest[:8], 16) / 0xFFFFFFFF


__all__ = ["Account", "Delivery", "Fault", "Objects", "Store"]
