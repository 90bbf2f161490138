"""Payments on Ray: the ``PaymentsWorker`` Serve deployment and the drift-repair task.

- ``PaymentsWorker`` (one replica, no CPU reserved) runs the ``payments`` consumer group
  (``tools.payments.PaymentsWorker``): every stored Asaas webhook is reconciled from the
  bus, at least once, with exactly-once effects.
- Daily (``payments_reconcile_interval_s``, the first round ``payments_reconcile_first_delay_s``
  after start) it runs one ``drift_repair_task`` Ray task per tenant with an Asaas
  integration, ``tenant_task_concurrency`` at a time (``serve.fanout``); each pulls that
  tenant's payments from Asaas by period and repairs what webhooks missed. ``tridium payments reconcile`` runs the same
  function on demand, without Ray.

Settings come from the environment the launcher ships in ``runtime_env``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import ray
import redis.asyncio as redis
from ray import serve

from core.logging import setup_logging
from core.settings import Settings
from core.tenancy import TenantId
from db.bus import STOP_TIMEOUT_S, cancel_and_wait
from db.pool import create_pool
from serve.fanout import bounded_round
from tools.payments import AsaasAccounts, PaymentsWorker, drift_window_start, repair_drift, tenants_with_asaas
from tools.payments.intents import brazil_today

log = logging.getLogger("tridium.payments")


async def run_drift_repair(
    settings: Settings, tenant_id: TenantId, since: date, until: date | None = None
) -> dict[str, Any]:
    """One tenant's drift repair with its own pool and HTTP client (a task, the CLI)."""
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            accounts = AsaasAccounts(http, user_agent=settings.asaas_user_agent)
            report = await repair_drift(pool, tenant_id, accounts, since=since, until=until)
            return report.as_dict()
    finally:
        await pool.close()


@ray.remote(num_cpus=0, max_retries=2)
def drift_repair_task(tenant_id: str, since: str) -> dict[str, Any]:
    """A Ray task: repair one tenant's drift since ``since`` (ISO date)."""
    settings = Settings()
    setup_logging(settings.log_level)
    return asyncio.run(run_drift_repair(settings, TenantId(UUID(tenant_id)), date.fromisoformat(since)))


@serve.deployment(name="PaymentsWorker", num_replicas=1, ray_actor_options={"num_cpus": 0})
class PaymentsWorkerDeployment:
    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        self._settings = settings = Settings()
        setup_logging(settings.log_level)
        self._pool = await create_pool(settings.require_database_url(), min_size=1, max_size=4)
        self._redis = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        accounts = AsaasAccounts(self._http, user_agent=settings.asaas_user_agent)
        self._worker = PaymentsWorker(self._pool, self._redis, settings.events_stream, accounts)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._worker.run_forever(self._stop), name="payments-worker")
        self._schedule = asyncio.create_task(self._scheduled(), name="payments-drift-schedule")
        self.last_repair: list[dict[str, Any]] = []

    async def _scheduled(self) -> None:
        interval = self._settings.payments_reconcile_interval_s
        await asyncio.sleep(min(self._settings.payments_reconcile_first_delay_s, interval))  # let it settle first
        while not self._stop.is_set():
            try:
                self.last_repair = await self.reconcile_all()
            except Exception:  # a failed round is logged and retried next period
                log.exception("scheduled drift repair failed")
            await asyncio.sleep(interval)

    async def reconcile_all(self, since: str | None = None) -> list[dict[str, Any]]:
        """One drift-repair Ray task per tenant with an Asaas integration, a bounded number at once."""
        today = brazil_today()
        tenants = await tenants_with_asaas(self._pool)
        results = await bounded_round(
            tenants,
            lambda t: drift_repair_task.remote(str(t[0]), since or drift_window_start(t[1], today).isoformat()),
            self._settings.tenant_task_concurrency,
        )
        out: list[dict[str, Any]] = []
        for (tid, _), result in zip(tenants, results, strict=True):
            if isinstance(result, BaseException):
                log.error("drift repair failed", extra={"tenant_id": str(tid), "error": repr(result)})
                out.append({"tenantId": str(tid), "error": type(result).__name__})
            else:
                out.append(result)
        return out

    async def stats(self) -> dict[str, Any]:
        return {"handled": self._worker.handled, "running": not self._task.done(), "last_repair": self.last_repair}

    async def check_health(self) -> None:
        if self._task.done():
            raise RuntimeError("payments worker stopped")

    async def __del__(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._task, self._schedule], STOP_TIMEOUT_S, type(self).__name__)
        await self._http.aclose()
        await self._redis.aclose()
        await self._pool.close()


__all__ = ["PaymentsWorkerDeployment", "drift_repair_task", "run_drift_repair"]
