"""The Ray runtime: agent actors, their registry, passivation and messaging.

This is the only module of ``actors`` that imports Ray. One detached actor per
(tenant, agent), named ``{agent}:{tenant_id}`` in the ``tridium-agents`` namespace,
created on demand with ``get_if_exists`` (race-safe: concurrent creators get the same
actor). Actors reserve no CPU, restart forever (``max_restarts=-1``) and never retry a
call (``max_task_retries=0``): state lives in Postgres/Redis and is reloaded by the new
incarnation, and side-effecting tools are idempotency-keyed, so a crash never
re-executes an effect.

An actor with no run for ``agent_idle_s`` passivates itself (``ray.kill`` of itself); the next
call through ``RayRuntime`` recreates it — idle tenants cost no memory. Passivation and
calls are exclusive (``PassivationGate``): an actor never closes under a call that has
started (a run it would orphan, a pool it would close mid-query), and a call that arrives
while it closes is refused with ``ActorPassivating`` and retried on the next incarnation.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import ray
from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

from core.errors import DependencyUnavailable, TridiumError
from core.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "tridium-agents"
# How long a call waits for a restarting (killed) actor before it fails.
RESTART_BUDGET_S = 60.0
SWITCH_INTERVAL_S = 0.0005  # the actor process's GIL switch interval once active (see AgentActor)
CLOSE_TIMEOUT_S = 10.0  # how long a passivating actor waits for its clients to close
WARM_UP_NICE = 10  # how much lower the CPU priority of an actor's post-activation warm-up is
SERVE_APP = "tridium"  # the Serve application whose Searcher deployment agents search through
_ENV_PREFIXES = ("TRIDIUM_", "DATABASE_", "REDIS_URL", "LLM_", "AGNO_", "OTEL_")
# Methods of AgentHost callable through the actor; every one is safe to retry once after
# the actor died (start_run and tool calls are idempotent by run id / idempotency key).
METHODS = frozenset(
    {"start_run", "run_alive", "wait_run", "cancel_run", "detach", "attach", "invoke_tool", "handle_message", "info"}
)


def actor_name(tenant_id: UUID, agent: str) -> str:
    return f"{agent}:{tenant_id}"


class ActorPassivating(Exception):
    """The actor is closing for idleness: nothing of the call ran; call the next incarnation."""


class PassivationGate:
    """Calls in flight against passivation, in one actor's event loop (no locks needed:
    both sides decide without awaiting).

    The watchdog closes only with no call in flight (``try_close``); once closing,
    ``enter`` refuses, so no call runs against clients being closed."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.closing = False

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        if self.closing:
            raise ActorPassivating("agent actor is passivating")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def try_close(self, idle: bool) -> bool:
        """Start closing if ``idle`` and no call is in flight; True when closing (for good)."""
        if not self.closing and idle and self.in_flight == 0:
            self.closing = True
        return self.closing


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class AgentActor:
    """Thin shell: builds the process's pool/clients and one ``AgentHost``, forwards calls."""

    def __init__(self, tenant_id: str, agent: str):
        self._tenant_id = UUID(tenant_id)
        self._agent = agent
        self._host: Any = None
        self._lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._warmup: asyncio.Task[None] | None = None
        self._closers: list[Any] = []
        self._search: Any = None
        self._gate = PassivationGate()
        self._idle_s = 0.0

    async def _ensure(self) -> Any:
        if self._host is not None:
            return self._host
        async with self._lock:
            if self._host is None:
                import redis.asyncio as redis

                from core.tenancy import TenantId
                from db.pool import create_pool
                from knowledge.remote import ModelServedSearcher, SearcherQueryEmbedder

                from .host import AgentHost, HostDeps

                settings = Settings()
                pool = await create_pool(settings.require_database_url(), min_size=1, max_size=4)
                client = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
                # The search SQL runs here; the Searcher deployment embeds uncached queries.
                search = ModelServedSearcher(
                    settings, pool, client, SearcherQueryEmbedder(handle_factory=_searcher_handle)
                )
                import httpx

                from tools.ads.accounts import AdsDeps, build_registry
                from tools.inbox import SecretBox

                # Lucy's ad changes: one HTTP client for the three ad connectors of this actor.
                ads_http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
                ads = AdsDeps(SecretBox(settings.channel_secrets_key), build_registry(ads_http))
                deps = HostDeps(settings, pool, client, search, peers=RayRuntime(settings), ads=ads)
                host = AgentHost(deps, TenantId(self._tenant_id), self._agent)
                await host.activate()
                self._closers = [client.aclose, pool.close, ads_http.aclose]
                self._host = host
                self._search = search
                self._idle_s = settings.agent_idle_s
                self._watchdog = asyncio.create_task(self._watch_idle())
                self._warmup = asyncio.create_task(self._warm_up())
                # Ray hands a call's result back from another thread, which needs the GIL:
                # with the default 5 ms switch interval a run busy on the CPU (building its
                # agent, composing an answer) holds every reply of this actor (start_run's
                # included) for up to 5 ms. Set after activation: its imports are CPU-bound
                # and would pass the GIL back and forth with Ray's threads every 0.5 ms.
                sys.setswitchinterval(SWITCH_INTERVAL_S)
        return self._host

    async def _warm_up(self) -> None:
        """After activation, off the caller's path: what a first run would otherwise wait
        for — agno (imported when the agent is first built) and, for agents that search,
        the Searcher handle (``ray.serve`` import, controller lookup, router start) and its
        query model's name. A run that needs one of them meanwhile waits for the same import
        or lock, not twice."""
        from .tools import catalog

        # One thread of its own at a lower CPU priority: on a busy node the head start must
        # not take the CPU from other actors' activations and runs (it is best effort).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-warm-up", initializer=_lower_priority)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(pool, importlib.import_module, f"{__package__}.agno_build")
            if "kb_search" in catalog(self._agent):
                await loop.run_in_executor(pool, _searcher_handle)
                await self._search.load()  # the query model's name, for the cache key
        except Exception:  # only a head start: the first run does it (and reports) otherwise
            log.debug("agent warm-up failed", exc_info=True)
        finally:
            pool.shutdown(wait=False)

    async def call(self, method: str, *args: Any) -> Any:
        if method not in METHODS:
            raise ValueError(f"not an agent method: {method}")
        with self._gate.enter():
            host = await self._ensure()
            return await getattr(host, method)(*args)

    def _idle(self) -> bool:
        return self._host is not None and self._host.idle_for() > self._idle_s

    async def _watch_idle(self) -> None:
        """Passivate once idle: close the clients, then end the process.

        ``exit_actor()`` is not used: the worker then waits for the tasks it owns to finish
        (Serve's long poll behind the Searcher handle: up to a minute) and meanwhile leaves
        every call queued to it unanswered — a run started then waited past the gateway's
        budget (CI, stop 17). ``ray.kill`` ends it now; the queued calls fail with
        ``RayActorError`` and are retried on a new incarnation (``RayRuntime.call``)."""
        while True:
            await asyncio.sleep(max(0.2, min(30.0, self._idle_s / 4)))
            if self._gate.try_close(self._idle()):
                break
        try:
            await asyncio.wait_for(self._close(), CLOSE_TIMEOUT_S)
        except Exception:  # closing is best effort: the process ends either way
            log.warning("agent actor did not close cleanly; ending it", exc_info=True)
        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    async def _close(self) -> None:
        if self._warmup is not None:
            self._warmup.cancel()
        if self._host is not None:
            await self._host.shutdown()
        for close in self._closers:
            await close()


def _lower_priority() -> None:
    """Nice the calling thread (Linux: priorities are per thread) by ``WARM_UP_NICE``."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + WARM_UP_NICE)


_searcher: list[Any] = []  # this process's Searcher handle, once resolved
_searcher_lock = threading.Lock()


def _searcher_handle() -> Any:
    """The Searcher deployment's handle, one per process (blocking: call it in a thread).

    Imports Serve only then: an actor's activation does not pay for it (``_warm_up`` does,
    in the background, or the first search)."""
    with _searcher_lock:
        if not _searcher:
            from ray import serve

            _searcher.append(serve.get_deployment_handle("Searcher", app_name=SERVE_APP))
        return _searcher[0]


def _actor_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
    env.setdefault("AGNO_TELEMETRY", "false")
    return env


def _unreachable(agent: str) -> DependencyUnavailable:
    """The agent's actor did not answer within ``RESTART_BUDGET_S`` (a 503, not a 500)."""
    return DependencyUnavailable(
        f"the {agent} agent is restarting and did not answer within {RESTART_BUDGET_S:.0f} s; retry",
        details={"agent": agent},
        headers={"Retry-After": "5"},
    )


class RayRuntime:
    """Reaches agent actors by name; get-or-create off the event loop; one retry on death."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._handles: dict[tuple[UUID, str], Any] = {}
        self._env = _actor_env()

    def _get_or_create(self, tenant_id: UUID, agent: str) -> Any:
        # Blocking GCS round trip: called through asyncio.to_thread only.
        return AgentActor.options(  # type: ignore[attr-defined]
            name=actor_name(tenant_id, agent),
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            runtime_env={"env_vars": self._env},
        ).remote(str(tenant_id), agent)

    async def handle(self, tenant_id: UUID, agent: str) -> Any:
        key = (tenant_id, agent)
        h = self._handles.get(key)
        if h is None:
            h = await asyncio.to_thread(self._get_or_create, tenant_id, agent)
            self._handles[key] = h
        return h

    async def call(self, tenant_id: UUID, agent: str, method: str, *args: Any) -> Any:
        """Call ``method`` on the agent's actor, riding out its restart or passivation.

        While Ray restarts a killed actor every call fails with ``ActorUnavailableError``
        after ~2 s, however long the restart takes (a worker process start: 1-2 s here, far
        more on a loaded box), so the retry is bounded by time (``RESTART_BUDGET_S``), not by
        a count that a slow restart outlasts. Every method is safe to repeat (``METHODS``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RESTART_BUDGET_S
        pause = 0.1
        while True:
            h = await self.handle(tenant_id, agent)
            failure: Exception
            try:
                return await h.call.remote(method, *args)
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, TridiumError):
                    raise cause from None
                if not isinstance(cause, ActorPassivating):
                    raise
                # Closing for idleness (nothing of the call ran): the next incarnation takes it.
                self._handles.pop((tenant_id, agent), None)
                failure = exc
            except ActorUnavailableError as exc:
                # Killed and being restarted by Ray (max_restarts=-1): wait for the new
                # incarnation instead of failing the caller.
                failure = exc
            except RayActorError as exc:
                # Passivated (exited for good) or reported dead while Ray restarts it: forget
                # the handle and get-or-create again (the same actor if it is restarting).
                # Only a constructor that fails is not worth waiting for.
                self._handles.pop((tenant_id, agent), None)
                if exc.actor_init_failed:
                    raise
                log.info("agent actor gone; re-activating", extra={"agent": agent, "tenant_id": str(tenant_id)})
                failure = exc
            if loop.time() + pause > deadline:
                raise _unreachable(agent) from failure
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)

    async def close(self) -> None:
        self._handles.clear()


__all__ = ["METHODS", "NAMESPACE", "ActorPassivating", "AgentActor", "PassivationGate", "RayRuntime", "actor_name"]
