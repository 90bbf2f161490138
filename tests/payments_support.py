"""Harness for the payments tests: a real Asaas sandbox server, the gateway app served by
uvicorn on a real socket (so the sandbox can deliver webhooks to it), the outbox relay
and the payments worker in-process, and a tenant whose integration points at the sandbox.
Nothing is mocked: every hop crosses a socket or the real Postgres/Redis."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis

from core.settings import Settings
from core.tenancy import TenantId
from db import payments as payments_q
from db.bus import OutboxRelay
from db.pool import create_pool, tenant_tx
from serve.app import build_fastapi
from tests.conftest import MakeMember, Member
from tools.asaas import AsaasClient, AsaasConfig
from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN, RunningSandbox, SandboxAdmin, SandboxConfig, running_sandbox
from tools.payments import AsaasAccounts, PaymentsWorker, configure_asaas, new_webhook_token, token_hash

FAST_ASAAS: dict[str, Any] = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1, "outcome_settle_s": 0.02}
FAST_SANDBOX: dict[str, Any] = {"time_scale": 1e-5, "tick_interval_s": 0.2}
CUSTOMER = {"name": "Maria Souza", "cpfCnpj": "249.715.637-92", "email": "maria@example.com"}


async def hooked_member(make_member: MakeMember, pool: asyncpg.Pool) -> tuple[Member, str]:
    """A new member's tenant with an Asaas integration and a webhook token (returned)."""
    m = await make_member()
    token = new_webhook_token(m.tenant_id)
    async with tenant_tx(pool, m.tenant_id) as conn:
        await payments_q.upsert_integration(conn, m.tenant_id, base_url="http://127.0.0.1:9", api_key_ref="sandbox")
        await payments_q.set_webhook(
            conn, m.tenant_id, webhook_id="t", url="", send_type="NON_SEQUENTIALLY", events=[],
            token_hash=token_hash(token),
        )  # fmt: skip
    return m, token


async def stored_asaas_events(pool: asyncpg.Pool, tenant_id: TenantId) -> tuple[list[str], list[dict[str, Any]]]:
    """A tenant's stored Asaas event ids (sorted) and the payloads of its
    ``asaas.event.received`` outbox events (in event-id order), read in a tenant transaction."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch("select event_id from asaas_events where tenant_id = $1 order by 1", tenant_id)
        outbox = await conn.fetch(
            "select payload from event_log where tenant_id = $1 and type = $2 order by payload->>'event_id'",
            tenant_id,
            payments_q.ASAAS_EVENT_RECEIVED,
        )
    return [r["event_id"] for r in rows], [dict(r["payload"]) for r in outbox]


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within_s}s")
        await asyncio.sleep(0.05)


@dataclass
class Worker:
    """A payments worker running as a task, killable mid-way like a crashed replica."""

    worker: PaymentsWorker
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.worker.run_forever(self.stop))

    async def kill(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await bounded("a cancelled payments worker", self.task)

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            self.task.cancel()
            await bounded("a closed payments worker", self.task)


def _await_chain(coro: Any) -> str:
    """The whole await chain of a coroutine (print_stack shows only the top)."""
    out = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            out.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}\n")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "".join(out)


async def bounded(what: str, aw: Any, within_s: float = 15.0) -> None:
    """Await ``aw`` (cancellation tolerated), or fail naming what hung instead of hanging.

    The message shows the await chain of ``aw`` and of every task that was asked to cancel
    but is still running (a swallowed cancellation is the usual reason for a hang here)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        stack = _await_chain(task.get_coro())
        for other in asyncio.all_tasks():
            if other is not task and not other.done() and other.cancelling():
                stack += f"cancelled but still running: {other.get_name()}\n{_await_chain(other.get_coro())}"
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        raise AssertionError(f"{what} did not finish within {within_s} s:\n{stack}")
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


async def close_pool(pool: asyncpg.Pool, what: str) -> None:
    """Close a pool (bounded) and terminate whatever it still holds, so no socket or
    ``Pool._maintain_min_size`` task outlives the test."""
    try:
        await bounded(f"closing {what} (a connection never released?)", pool.close())
    finally:
        pool.terminate()


def on_exit(stack: contextlib.AsyncExitStack, what: str, close: Callable[[], Awaitable[Any]]) -> None:
    """Run ``close()`` (bounded) when ``stack`` unwinds: also when the test, the setup after
    it or an earlier close failed, so one failure never leaks the rest (sockets, pools)."""

    async def run() -> None:
        await bounded(what, close())

    stack.push_async_callback(run)


@dataclass
class Harness:
    member: Member
    sandbox: RunningSandbox
    api: httpx.AsyncClient  # to the gateway over HTTP
    asaas: AsaasClient  # to the sandbox (as the payer / Asaas's own UI would act)
    admin: SandboxAdmin
    gateway_url: str
    pool: asyncpg.Pool
    redis: redis.Redis
    stream: str
    accounts: AsaasAccounts
    workers: list[Worker] = field(default_factory=list)

    @property
    def tenant_id(self) -> TenantId:
        return self.member.tenant_id

    def h(self, **extra: str) -> dict[str, str]:
        return self.member.headers(**extra)

    def new_worker(self, *, min_idle_ms: int = 30_000, start: bool = True) -> Worker:
        w = Worker(
            PaymentsWorker(
                self.pool,
                self.redis,
                self.stream,
                self.accounts,
                name=f"w-{secrets.token_hex(3)}",
                min_idle_ms=min_idle_ms,
                block_ms=100,
            )
        )
        self.workers.append(w)
        if start:
            w.start()
        return w

    async def provision(self, url: str | None = None, **body: Any) -> httpx.Response:
        payload = {"url": url or f"{self.gateway_url}/webhooks/asaas", "email": "ops@example.com", **body}
        return await self.api.post("/admin/integrations/asaas/webhook", json=payload, headers=self.h())

    async def lead_and_deal(self, value_cents: int = 19990) -> tuple[str, str]:
        r = await self.api.post(
            "/leads", json={"name": "Maria Souza"}, headers=self.h(**{"Idempotency-Key": secrets.token_hex(8)})
        )
        assert r.status_code == 201, r.text
        lead_id = r.json()["id"]
        r = await self.api.post(
            "/deals", json={"lead_id": lead_id, "title": "Plano anual", "value_cents": value_cents}, headers=self.h()
        )
        assert r.status_code == 201, r.text
        return lead_id, r.json()["id"]

    async def intent(self, method: str, deal_id: str | None, key: str | None = None, **extra: Any) -> httpx.Response:
        body = {"amount": "199.90", "method": method, "customer": CUSTOMER, "meta": {"deal_id": deal_id}, **extra}
        return await self.api.post(
            "/payments/asaas/intent", json=body, headers=self.h(**{"Idempotency-Key": key or secrets.token_hex(12)})
        )

    async def clear_faults(self) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.delete(
                f"{self.sandbox.base_url}/v3/sandbox/faults", headers={"access_token": DEFAULT_ACCESS_TOKEN}
            )
            assert r.status_code == 204

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with tenant_tx(self.pool, self.tenant_id) as conn:
            return list(await conn.fetch(sql, self.tenant_id, *args))

    async def count_events(self, type_: str, key: str, value: str) -> int:
        rows = await self.fetch(
            "select count(*) as n from event_log where tenant_id = $1 and type = $2 and payload->>$3 = $4",
            type_,
            key,
            value,
        )
        return int(rows[0]["n"])

    async def deal_stage(self, deal_id: str) -> str:
        rows = await self.fetch("select stage from deals where tenant_id = $1 and id = $2::uuid", deal_id)
        return str(rows[0]["stage"])


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The gateway under uvicorn on a free port; shutdown is bounded so a failing test
    cannot hang on a request still in flight."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("gateway stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, 15)
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def harness(
    settings: Settings,
    make_member: Callable[..., Awaitable[Member]],
    relay_url: str,
    *,
    sandbox_config: dict[str, Any] | None = None,
    provision: bool = True,
    worker: bool = True,
) -> AsyncIterator[Harness]:
    """Everything a payments test needs, torn down in reverse order."""
    stream = f"test:payments:{secrets.token_hex(4)}"
    test_settings = settings.model_copy(update={"events_stream": stream})
    config = SandboxConfig(**{**FAST_SANDBOX, **(sandbox_config or {})})
    app = build_fastapi(test_settings)
    async with (
        running_sandbox(config) as sandbox,
        serving(app) as gateway_url,
        httpx.AsyncClient(timeout=10) as http,
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as api,
    ):
        # The gateway's connectors, made fast for fault tests (same class, other backoffs).
        app.state.asaas = AsaasAccounts(http, config_overrides=FAST_ASAAS)
        # Unwinds in reverse, every step bounded, also after a failure.
        async with contextlib.AsyncExitStack() as stack:
            pool = await create_pool(settings.require_database_url(), max_size=8)
            stack.push_async_callback(close_pool, pool, "the app pool")
            relay_pool = await create_pool(relay_url, max_size=2)
            stack.push_async_callback(close_pool, relay_pool, "the relay pool")
            client = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
            on_exit(stack, "closing the Redis client", client.aclose)
            relay = OutboxRelay(relay_pool, client, stream, poll_interval_s=0.05)
            await relay.start()
            on_exit(stack, "the outbox relay", relay.stop)
            member = await make_member()
            await configure_asaas(pool, member.tenant_id, base_url=sandbox.base_url, api_key_ref="sandbox")
            asaas = AsaasClient(
                http,
                AsaasConfig(
                    base_url=sandbox.base_url, access_token=DEFAULT_ACCESS_TOKEN, user_agent="tests", **FAST_ASAAS
                ),
            )
            h = Harness(
                member=member,
                sandbox=sandbox,
                api=api,
                asaas=asaas,
                admin=SandboxAdmin(http, sandbox.base_url),
                gateway_url=gateway_url,
                pool=pool,
                redis=client,
                stream=stream,
                accounts=AsaasAccounts(http, config_overrides=FAST_ASAAS),
            )

            async def close_workers() -> None:
                for w in h.workers:
                    await w.close()

            on_exit(stack, "the payments workers", close_workers)
            if provision:
                r = await h.provision()
                assert r.status_code == 200, r.text
            if worker:
                h.new_worker()
            yield h


__all__ = ["CUSTOMER", "FAST_ASAAS", "Harness", "Worker", "eventually", "harness"]
