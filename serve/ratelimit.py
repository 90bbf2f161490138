"""Fixed-window rate limits in Redis: atomic (one Lua script), shared by every replica.

Headers follow draft-ietf-httpapi-ratelimit-headers-10: ``RateLimit-Policy`` and
``RateLimit`` (structured fields), plus ``Retry-After`` on 429.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# INCR then PEXPIRE only on the first hit, in one script: no GET-then-INCR race.
_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    window_s: int
    policy: str

    def headers(self) -> dict[str, str]:
        h = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window_s}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_s}',
        }
        if not self.allowed:
            h["Retry-After"] = str(self.reset_s)
        return h


class RateLimiter:
    def __init__(self, client: redis.Redis, window_s: int):
        self._redis = client
        self._window_s = window_s
        self._script = client.register_script(_SCRIPT)

    async def hit(self, bucket: str, limit: int, kind: str) -> Decision | None:
        """Count one request; None when Redis is unreachable (fail open, logged)."""
        try:
            count, ttl_ms = await self._script(keys=[f"rl:{kind}:{bucket}"], args=[self._window_s * 1000])
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable, allowing request", extra={"error": str(exc)})
            return None
        count, ttl_ms = int(count), int(ttl_ms)
        reset_s = max(1, -(-ttl_ms // 1000))
        return Decision(count <= limit, limit, max(0, limit - count), reset_s, self._window_s, kind)


class LocalRateLimiter:
    """The same fixed windows, counted in this process: no round trip. For budgets that
    guard a replica against floods rather than meter a client across the cluster — with
    N replicas a client may send up to N * ``limit`` per window (webhooks, ADR 0006)."""

    def __init__(self, window_s: int, max_buckets: int = 10_000):
        self._window_s = window_s
        self._max = max_buckets
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, bucket: str, limit: int, kind: str) -> Decision:
        now = time.monotonic()
        key = f"{kind}:{bucket}"
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self._window_s:
            start, count = now, 0
        if key not in self._windows and len(self._windows) >= self._max:
            self._windows.clear()  # bounded memory under a flood of distinct client IPs
        count += 1
        self._windows[key] = (start, count)
        reset_s = max(1, math.ceil(start + self._window_s - now))
        return Decision(count <= limit, limit, max(0, limit - count), reset_s, self._window_s, kind)


__all__ = ["Decision", "LocalRateLimiter", "RateLimiter"]
