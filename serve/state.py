"""Per-process gateway state, created in the app lifespan and closed by it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as redis

from core.settings import Settings
from db.tenants import Membership
from tools.payments import IngestBatcher

from .auth import TokenVerifier
from .metrics import GatewayMetrics
from .ratelimit import LocalRateLimiter, RateLimiter

# Reports on the event relay (and through it, on Ray): {"ok": bool, "lag_s": float, ...}.
RelayProbe = Callable[[], Awaitable[dict[str, Any]]]


class MembershipCache:
    """Tenant resolution is one query; caching it briefly keeps it off the hot path.

    A revoked membership stays usable for at most ``ttl_s`` seconds on this replica.
    """

    def __init__(self, ttl_s: float = 15.0, max_entries: int = 10_000):
        self._ttl = ttl_s
        self._max = max_entries
        self._data: dict[tuple[str, str], tuple[float, Membership | None]] = {}

    def get(self, key: tuple[str, str]) -> tuple[bool, Membership | None]:
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: tuple[str, str], value: Membership | None) -> None:
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = (time.monotonic() + self._ttl, value)

    def clear(self) -> None:
        self._data.clear()


@dataclass
class AppState:
    settings: Settings
    pool: asyncpg.Pool
    redis: redis.Redis
    verifier: TokenVerifier
    limiter: RateLimiter
    metrics: GatewayMetrics
    relay_probe: RelayProbe | None = None
    memberships: MembershipCache = field(default_factory=MembershipCache)
    # Set with settings.webhook_lean_ingress: the webhooks' in-process per-IP budget.
    webhook_limiter: LocalRateLimiter | None = None
    # The webhook ingest pool (no session reset on release, ADR 0008); the main pool if None.
    webhook_pool: asyncpg.Pool | None = None
    # Group commit of Asaas deliveries on webhook_pool (ADR 0010); None: one statement each.
    webhook_batcher: IngestBatcher | None = None


__all__ = ["AppState", "MembershipCache", "RelayProbe"]
