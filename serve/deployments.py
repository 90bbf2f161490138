"""Ray Serve deployments of the ``tridium`` application.

- ``Gateway``: the FastAPI ingress (``serve.app.build_fastapi``), built on the replica.
- ``EventRelay``: one replica running the outbox relay; the gateway's ``/health`` asks it
  for a report, which also proves the Ray control path works.
- ``WebhookListener`` (``serve.webhooks.listener``, ADR 0009): provider webhooks on their
  own port, served by a uvicorn process the replica supervises.

Settings come from the replica's environment (the launcher ships it in ``runtime_env``).
Replicas reserve no CPU: on a 2-core machine the work is I/O bound and CPU reservations
would only stop the app from fitting.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from ray import serve
from ray.serve.handle import DeploymentHandle

from core.logging import setup_logging
from core.settings import Settings
from db.bus import OutboxRelay
from db.pool import create_pool

from .ads.sync_runtime import AdsSyncDeployment
from .ads.worker_runtime import AdsWorkerDeployment
from .app import build_fastapi
from .inbox.runtime import InboxWorkerDeployment
from .knowledge_deployments import bind_knowledge
from .payments_runtime import PaymentsWorkerDeployment
from .webhooks.listener import WebhookListener


@serve.deployment(name="EventRelay", num_replicas=1, ray_actor_options={"num_cpus": 0})
class EventRelay:
    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        settings = Settings()
        setup_logging(settings.log_level)
        if settings.database_relay_url is None:
            raise ValueError("DATABASE_RELAY_URL is not set: the relay needs its own role")
        self._pool = await create_pool(settings.database_relay_url.get_secret_value(), min_size=1, max_size=3)
        self._redis = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
        self._relay = OutboxRelay(
            self._pool, self._redis, settings.events_stream, poll_interval_s=settings.outbox_poll_interval_s
        )
        await self._relay.start()

    async def stats(self) -> dict[str, Any]:
        return await self._relay.stats()

    async def check_health(self) -> None:
        report = await self._relay.stats()
        if not report["ok"]:
            raise RuntimeError("outbox relay task stopped")

    async def __del__(self) -> None:
        await self._relay.stop()
        await self._redis.aclose()
        await self._pool.close()


@serve.deployment(name="AgentDispatcher", num_replicas=1, ray_actor_options={"num_cpus": 0})
class AgentDispatcherDeployment:
    """Agents' reactions to bus events (deal.won → Luddy, Lucy, Clio): ``actors.dispatcher``."""

    async def __init__(self) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        import asyncio

        from actors.dispatcher import AgentDispatcher
        from actors.runtime import RayRuntime

        settings = Settings()
        setup_logging(settings.log_level)
        self._pool = await create_pool(settings.require_database_url(), min_size=1, max_size=3)
        self._redis = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
        self._dispatcher = AgentDispatcher(self._pool, self._redis, settings.events_stream, RayRuntime(settings))
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._dispatcher.run_forever(self._stop))

    async def check_health(self) -> None:
        if self._task.done():
            raise RuntimeError("agent dispatcher stopped")

    async def __del__(self) -> None:
        self._stop.set()
        self._task.cancel()
        await self._redis.aclose()
        await self._pool.close()


@serve.deployment(
    name="Gateway",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=256,
    health_check_period_s=10,
    # Our middleware already logs one JSON line per request (with the request id);
    # Serve's own access log would be a second, slower one on the hot path.
    logging_config={"enable_access_log": False},
)
@serve.ingress()
class Gateway:
    def __init__(
        self,
        relay: DeploymentHandle[Any],
        agents: DeploymentHandle[Any] | None = None,
        knowledge: DeploymentHandle[Any] | None = None,
        payments: DeploymentHandle[Any] | None = None,
        inbox: DeploymentHandle[Any] | None = None,
        ads_sync: DeploymentHandle[Any] | None = None,
        ads: DeploymentHandle[Any] | None = None,
        webhooks: DeploymentHandle[Any] | None = None,
    ) -> None:
        self._settings = Settings()
        self._relay = relay
        self._agents = agents  # bound so the agent dispatcher is part of the application
        self._knowledge = knowledge  # likewise Embedder, Searcher and the upload sweeper
        self._payments = payments  # likewise the payments worker (serve.payments_runtime)
        self._inbox = inbox  # likewise the inbox worker (serve.inbox.runtime)
        self._ads_sync = ads_sync  # likewise the scheduled insights sync (serve.ads.sync_runtime)
        self._ads = ads  # likewise the ads worker (serve.ads.worker_runtime): conversions, publishing
        self._webhooks = webhooks  # likewise the webhook listener (serve.webhooks.listener), if any

    def __serve_build_asgi_app__(self) -> Any:
        async def relay_probe() -> dict[str, Any]:
            report: dict[str, Any] = await self._relay.stats.remote()
            return report

        return build_fastapi(self._settings, relay_probe=relay_probe)


def build_app(
    env: dict[str, str] | None = None,
    gateway_replicas: int = 1,
    gateway_env: dict[str, str] | None = None,
    webhook_port: int = 0,
    webhook_replicas: int = 1,
) -> Any:
    """The Serve application graph. ``env`` is shipped to every replica; ``gateway_env``
    (merged over it) to the Gateway's only. ``webhook_port`` > 0 adds the webhook listener
    (ADR 0009) on that port, with ``webhook_replicas`` replicas sharing it. Note: ``serve.run`` of this in-memory graph
    gives every deployment a fresh random version (Ray 2.60), so each run restarts all
    replicas, not only those whose options changed."""
    options: dict[str, Any] = {"num_cpus": 0}
    if env:
        options["runtime_env"] = {"env_vars": env}
    gateway_options = options
    if gateway_env:
        gateway_options = {"num_cpus": 0, "runtime_env": {"env_vars": {**(env or {}), **gateway_env}}}
    relay_deployment: Any = EventRelay
    gateway_deployment: Any = Gateway
    relay = relay_deployment.options(ray_actor_options=options).bind()
    agents = AgentDispatcherDeployment.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]
    knowledge = bind_knowledge(options)
    payments = PaymentsWorkerDeployment.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]
    inbox = InboxWorkerDeployment.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]
    ads_sync = AdsSyncDeployment.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]
    ads = AdsWorkerDeployment.options(ray_actor_options=options).bind()  # type: ignore[attr-defined]
    listener = None
    if webhook_port:
        listener_deployment: Any = WebhookListener
        listener = listener_deployment.options(ray_actor_options=options, num_replicas=webhook_replicas).bind(
            webhook_port
        )
    return gateway_deployment.options(ray_actor_options=gateway_options, num_replicas=gateway_replicas).bind(
        relay, agents, knowledge, payments, inbox, ads_sync, ads, listener
    )


__all__ = ["AgentDispatcherDeployment", "EventRelay", "Gateway", "build_app"]
