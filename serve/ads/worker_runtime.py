"""The ``AdsWorker`` Serve deployment: one replica (no CPU reserved) running the ``ads``
consumer group and the conversion sender (``tools.ads.worker``): conversions to the ad
platforms on ``payment.succeeded`` / ``deal.won``, Clio's approved creatives published as
PAUSED ads. Settings come from the replica's environment (the launcher's ``runtime_env``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import redis.asyncio as redis
from ray import serve

from core.logging import setup_logging
from core.settings import Settings
from db.bus import STOP_TIMEOUT_S, cancel_and_wait
from db.pool import create_pool
from tools.ads.accounts import AdsDeps, build_registry
from tools.ads.worker import AdsWorker
from tools.inbox import SecretBox


@serve.deployment(name="AdsWorker", num_replicas=1, ray_actor_options={"num_cpus": 0})
class AdsWorkerDeployment:
    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        settings = Settings()
        setup_logging(settings.log_level)
        self._pool = await create_pool(settings.require_database_url(), min_size=1, max_size=4)
        self._redis = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        deps = AdsDeps(SecretBox(settings.channel_secrets_key), build_registry(self._http))
        self._worker = AdsWorker(self._pool, self._redis, settings.events_stream, deps)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._worker.run_forever(self._stop), name="ads-worker")

    async def stats(self) -> dict[str, Any]:
        return {**self._worker.stats(), "running": not self._task.done()}

    async def check_health(self) -> None:
        if self._task.done():
            raise RuntimeError("ads worker stopped")
        if not self._worker.sender_alive:
            raise RuntimeError("ads conversion sender stopped")

    async def __del__(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._task], STOP_TIMEOUT_S, type(self).__name__)
        await self._http.aclose()
        await self._redis.aclose()
        await self._pool.close()


__all__ = ["AdsWorkerDeployment"]
