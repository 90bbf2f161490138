"""Ads insights sync on Ray: the ``AdsSync`` Serve deployment and the per-tenant task.

- Every ``ads_sync_interval_s`` (hourly) ``AdsSync`` (one replica, no CPU reserved) runs
  one ``ads_sync_task`` Ray task per tenant with an active ad account,
  ``tenant_task_concurrency`` at a time (``serve.fanout``), like the payments drift repair
  (``serve.payments_runtime``). Each task builds its own pool, HTTP
  client and connectors, and runs ``tools.ads.sync.sync_tenant`` over the rolling window
  (``ads_sync_days`` + ``ads_sync_backfill_days``); the rules run after each account.
- ``POST /admin/ads/sync`` runs the same function in the gateway, for one tenant, now.

Settings come from the environment the launcher ships in ``runtime_env``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Any
from uuid import UUID

import httpx
import ray
from ray import serve

from core.logging import setup_logging
from core.settings import Settings
from core.tenancy import TenantId
from db.bus import STOP_TIMEOUT_S, cancel_and_wait
from db.pool import create_pool
from serve.fanout import bounded_round
from tools.ads.accounts import AdsDeps, build_registry
from tools.ads.sync import SyncOptions, sync_tenant, tenants_with_ad_accounts
from tools.inbox.crypto import SecretBox

log = logging.getLogger("tridium.ads")


async def run_ads_sync(
    settings: Settings, tenant_id: TenantId, backfill_days: int | None = None
) -> list[dict[str, Any]]:
    """One tenant's sync with its own pool and HTTP client (a Ray task)."""
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            deps = AdsDeps(SecretBox(settings.channel_secrets_key), build_registry(http))
            options = SyncOptions(
                days=settings.ads_sync_days,
                backfill_days=settings.ads_sync_backfill_days if backfill_days is None else backfill_days,
            )
            runs = await sync_tenant(pool, tenant_id, deps, options=options)
            return [{k: _plain(v) for k, v in r.items()} for r in runs]
    finally:
        await pool.close()


def _plain(v: Any) -> Any:
    """A run's values as plain JSON types (they cross a process boundary)."""
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


@ray.remote(num_cpus=0, max_retries=1)
def ads_sync_task(tenant_id: str) -> list[dict[str, Any]]:
    """A Ray task: sync every active ad account of one tenant."""
    settings = Settings()
    setup_logging(settings.log_level)
    return asyncio.run(run_ads_sync(settings, TenantId(UUID(tenant_id))))


@serve.deployment(name="AdsSync", num_replicas=1, ray_actor_options={"num_cpus": 0})
class AdsSyncDeployment:
    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        self._settings = settings = Settings()
        setup_logging(settings.log_level)
        self._pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
        self._stop = asyncio.Event()
        self._schedule = asyncio.create_task(self._scheduled(), name="ads-sync-schedule")
        self.last_round: list[dict[str, Any]] = []

    async def _scheduled(self) -> None:
        interval = self._settings.ads_sync_interval_s
        await asyncio.sleep(min(self._settings.ads_sync_first_delay_s, interval))  # let the platform settle first
        while not self._stop.is_set():
            try:
                self.last_round = await self.sync_all()
            except Exception:  # a failed round is logged and retried next period
                log.exception("scheduled ads sync failed")
            await asyncio.sleep(interval)

    async def sync_all(self) -> list[dict[str, Any]]:
        """One sync task per tenant with an active ad account, a bounded number at once."""
        tenants = await tenants_with_ad_accounts(self._pool)
        results = await bounded_round(
            tenants, lambda t: ads_sync_task.remote(str(t)), self._settings.tenant_task_concurrency
        )
        out: list[dict[str, Any]] = []
        for tid, result in zip(tenants, results, strict=True):
            if isinstance(result, BaseException):
                log.error("ads sync task failed", extra={"tenant_id": str(tid), "error": repr(result)})
                out.append({"tenantId": str(tid), "error": type(result).__name__})
            else:
                out.append({"tenantId": str(tid), "runs": result})
        return out

    async def stats(self) -> dict[str, Any]:
        return {"running": not self._schedule.done(), "last_round": self.last_round}

    async def check_health(self) -> None:
        if self._schedule.done():
            raise RuntimeError("ads sync schedule stopped")

    async def __del__(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._schedule], STOP_TIMEOUT_S, type(self).__name__)
        await self._pool.close()


__all__ = ["AdsSyncDeployment", "ads_sync_task", "run_ads_sync"]
