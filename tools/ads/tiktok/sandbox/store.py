"""In-memory state of the simulated TikTok Marketing API: accounts, objects, delivery,
received events and injected faults. No I/O; ``app`` renders it over HTTP."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from .. import protocol as p

SandboxLevel = Literal["campaign", "adgroup", "ad"]
LEVELS: tuple[SandboxLevel, ...] = ("campaign", "adgroup", "ad")
DEDUPE_WINDOW_S = 48 * 3600


class ApiError(Exception):
    """A TikTok envelope error: HTTP 200 with ``code`` != 0 (``http_status`` for the rare non-200)."""

    def __init__(self, code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass
class Account:
    advertiser_id: str
    access_token: str
    currency: str = "BRL"
    timezone: str = "America/Sao_Paulo"
    pixel_code: str | None = None
    events_access_token: str | None = None
    min_campaign_budget: Decimal = Decimal(50)
    min_adgroup_budget: Decimal = Decimal(20)
    operation_status_allowlisted: bool = False


@dataclass
class Obj:
    level: SandboxLevel
    id: str
    advertiser_id: str
    name: str
    parent_id: str | None
    operation_status: str  # ENABLE | DISABLE
    deleted: bool = False
    budget_mode: str | None = None
    budget: Decimal | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    modified_at: float = field(default_factory=time.time)

    @property
    def campaign_id(self) -> str | None:
        return self.fields.get("campaign_id") if self.level != "campaign" else self.id


@dataclass
class Metrics:
    impressions: int = 0
    clicks: int = 0
    spend_minor: int = 0
    conversions: int = 0

    def __add__(self, other: Metrics) -> Metrics:
        return Metrics(
            self.impressions + other.impressions,
            self.clicks + other.clicks,
            self.spend_minor + other.spend_minor,
            self.conversions + other.conversions,
        )


@dataclass
class ReceivedEvent:
    event_source: str
    event_source_id: str
    advertiser_id: str | None
    event: dict[str, Any]
    received_at: float
    duplicate: bool


@dataclass
class Fault:
    operation: str  # a path under /open_api/v1.3/ ("campaign/create/") or "*"
    kind: Literal["rate_limit", "internal", "http_503", "auth"]
    remaining: int
    advertiser_id: str | None = None


class Store:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.objects: dict[str, Obj] = {}
        self.delivery: dict[tuple[str, SandboxLevel, str, date], Metrics] = {}
        self.events: list[ReceivedEvent] = []
        self.first_seen: dict[tuple[str, str, str], float] = {}
        self.duplicates: dict[tuple[str, str, str], int] = {}
        self.faults: list[Fault] = []

    # --- ids and accounts ---

    def new_id(self) -> str:
        with self._lock:
            return f"17{int(time.time()) % 10**6:06d}{next(self._ids):010d}"

    def account_for_token(self, token: str) -> list[Account]:
        return [a for a in self.accounts.values() if token in (a.access_token, a.events_access_token)]

    def authorise(self, token: str | None, advertiser_id: Any) -> Account:
        if not token:
            raise ApiError(p.ACCESS_TOKEN_EMPTY, "Access token is null, please check the Access-Token header.")
        accounts = self.account_for_token(token)
        if not accounts:
            raise ApiError(p.ACCESS_TOKEN_INVALID, "Access token is incorrect or has been revoked.")
        if advertiser_id is None or str(advertiser_id) == "":
            raise ApiError(p.INVALID_PARAMETERS, "advertiser_id: Missing data for required field.")
        for a in accounts:
            if a.advertiser_id == str(advertiser_id) and token == a.access_token:
                return a
        raise ApiError(p.PERMISSION_DENIED, f"No permission to operate advertiser {advertiser_id}.")

    # --- objects ---

    def get(self, account: Account, level: SandboxLevel, object_id: Any) -> Obj:
        obj = self.objects.get(str(object_id))
        if obj is None or obj.level != level or obj.advertiser_id != account.advertiser_id or obj.deleted:
            raise ApiError(p.INVALID_PARAMETERS, f"{level}_id {object_id} does not exist.")
        return obj

    def children(self, obj: Obj) -> list[Obj]:
        if obj.level == "ad":
            return []
        child_level: SandboxLevel = "adgroup" if obj.level == "campaign" else "ad"
        return [o for o in self.objects.values() if o.level == child_level and o.parent_id == obj.id]

    def of(self, advertiser_id: str, level: SandboxLevel | None = None) -> list[Obj]:
        return [
            o for o in self.objects.values() if o.advertiser_id == advertiser_id and (level is None or o.level == level)
        ]

    # --- delivery ---

    def metrics(self, obj: Obj, day: date) -> Metrics | None:
        """An explicit row for ``obj`` on ``day`` wins; otherwise the sum of its children's."""
        own = self.delivery.get((obj.advertiser_id, obj.level, obj.id, day))
        if own is not None:
            return own
        total: Metrics | None = None
        for child in self.children(obj):
            m = self.metrics(child, day)
            if m is not None:
                total = m if total is None else total + m
        return total

    def simulate(self, account: Account, day: date) -> list[dict[str, Any]]:
        """Deterministic delivery for every ENABLE campaign (see the module doc for the formula)."""
        results: list[dict[str, Any]] = []
        exp = p.exponent(account.currency)
        for campaign in sorted(self.of(account.advertiser_id, "campaign"), key=lambda o: o.id):
            if campaign.deleted or campaign.operation_status != "ENABLE":
                continue
            adgroups = [g for g in self.children(campaign) if not g.deleted and g.operation_status == "ENABLE"]
            if campaign.budget_mode == "BUDGET_MODE_DAY" and campaign.budget is not None:
                budget_minor = int(campaign.budget.scaleb(exp))
            else:
                budget_minor = sum(int((g.budget or Decimal(0)).scaleb(exp)) for g in adgroups)
            u1, u2, u3 = _uniforms(f"{self.seed}:{account.advertiser_id}:{campaign.id}:{day.isoformat()}")
            spend = int(budget_minor * (0.60 + 0.35 * u1))
            cpm_minor = 1500 + int(1500 * u2)  # cost of 1000 impressions, in minor units
            impressions = spend * 1000 // cpm_minor
            clicks = int(impressions * (0.008 + 0.012 * u3))
            conversions = clicks // 20
            total = Metrics(impressions, clicks, spend, conversions)
            ads = sorted(
                (a for g in adgroups for a in self.children(g) if not a.deleted and a.operation_status == "ENABLE"),
                key=lambda o: o.id,
            )
            for key in [k for k in self.delivery if k[0] == account.advertiser_id and k[3] == day]:
                obj = self.objects.get(key[2])
                if obj is not None and obj.campaign_id == campaign.id:
                    del self.delivery[key]
            if ads:
                for i, (ad, share) in enumerate(zip(ads, _split(total, len(ads)), strict=True)):
                    self.delivery[(account.advertiser_id, "ad", ad.id, day)] = share
                    results.append({"level": "ad", "id": ad.id, "index": i, **share.__dict__})
            else:
                self.delivery[(account.advertiser_id, "campaign", campaign.id, day)] = total
                results.append({"level": "campaign", "id": campaign.id, **total.__dict__})
        return results

    # --- faults ---

    def take_fault(self, operation: str, advertiser_id: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining <= 0:
                    continue
                if fault.operation not in ("*", operation):
                    continue
                if fault.advertiser_id is not None and fault.advertiser_id != advertiser_id:
                    continue
                fault.remaining -= 1
                return fault
        return None

    # --- events ---

    def receive(self, source: str, source_id: str, advertiser_id: str | None, event: dict[str, Any]) -> bool:
        """Keep the event as received; True when it duplicates one within the 48 h window."""
        now = time.time()
        key = (source_id, str(event.get("event")), str(event.get("event_id") or ""))
        first = self.first_seen.get(key)
        duplicate = bool(key[2]) and first is not None and now - first <= DEDUPE_WINDOW_S
        if duplicate:
            self.duplicates[key] = self.duplicates.get(key, 0) + 1
        elif key[2]:
            self.first_seen[key] = now
        self.events.append(ReceivedEvent(source, source_id, advertiser_id, event, now, duplicate))
        return duplicate


def _uniforms(key: str) -> tuple[float, float, float]:
    digest = hashlib.sha256(key.encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 8], "big") / 2**64 for i in (0, 8, 16))  # type: ignore[return-value]


def _split(total: Metrics, n: int) -> list[Metrics]:
    def parts(value: int) -> list[int]:
        base, rest = divmod(value, n)
        return [base + (1 if i < rest else 0) for i in range(n)]

    cols = [parts(total.impressions), parts(total.clicks), parts(total.spend_minor), parts(total.conversions)]
    return [Metrics(cols[0][i], cols[1][i], cols[2][i], cols[3][i]) for i in range(n)]


__all__ = ["LEVELS", "Account", "ApiError", "Fault", "Metrics", "Obj", "ReceivedEvent", "SandboxLevel", "Store"]
