"""The ``InboxWorker`` Serve deployment: one replica (no CPU reserved) running the
``inbox`` consumer group and burst-merge scheduler (``tools.inbox.InboxWorker``), reaching
Luddy through the Ray agent runtime. Settings come from the replica's environment."""

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
from tools.inbox import SecretBox
from tools.inbox.worker import InboxWorker

from .agents import RuntimeAgents
from .wiring import build_connectors, inbox_config


@serve.deployment(name="InboxWorker", num_replicas=1, ray_actor_options={"num_cpus": 0})
class InboxWorkerDeployment:
    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        from actors.runtime import RayRuntime

        settings = Settings()
        setup_logging(settings.log_level)
        self._pool = await create_pool(settings.require_database_url(), min_size=1, max_size=6)
        self._redis = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0))
        self._worker = InboxWorker(
            self._pool,
            self._redis,
            settings.events_stream,
            RuntimeAgents(RayRuntime(settings), self._pool),
            build_connectors(self._http, settings),
            SecretBox(settings.channel_secrets_key),
            inbox_config(settings),
        )
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._worker.run_forever(self._stop), name="inbox-worker")

    async def stats(self) -> dict[str, Any]:
        return {**self._worker.stats(), "running": not self._task.done()}

    async def check_health(self) -> None:
        if self._task.done():
            raise RuntimeError("inbox worker stopped")

    async def __del__(self) -> None:
        self._stop.set()
        await cancel_and_wait([self._task], STOP_TIMEOUT_S, type(self).__name__)
        await self._http.aclose()
        await self._redis.aclose()
        await self._pool.close()


__all__ = ["InboxWorkerDeployment"]
