"""Harness for the inbox tests: the WhatsApp Cloud API sandbox (a real HTTP server), the
gateway under uvicorn on a real socket (the sandbox delivers signed webhooks to it), the
outbox relay, and the InboxWorker with Luddy in-process (LocalRuntime). Nothing is
mocked: every hop crosses a socket or the real Postgres/Redis."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis

from actors.host import HostDeps, LocalRuntime
from core.settings import Settings
from db.bus import OutboxRelay
from db.pool import create_pool, tenant_tx
from serve.app import build_fastapi
from serve.inbox import RuntimeAgents, build_connectors
from tests.conftest import Member
from tests.payments_support import close_pool, eventually, on_exit, serving
from tools.channels.whatsapp.sandbox import RunningWhatsAppSandbox, running_sandbox
from tools.inbox import SecretBox
from tools.inbox.outbound import DeliveryPolicy
from tools.inbox.worker import AgentPort, InboxConfig, InboxWorker

FAST = InboxConfig(quiet_s=0.6, max_wait_s=4.0, tick_s=0.05, policy=DeliveryPolicy(max_attempts=4, base_s=0.05))


async def _no_search(*_a: Any) -> list[Any]:
    return []


@dataclass
class InboxHarness:
    member: Member
    sandbox: RunningWhatsAppSandbox
    api: httpx.AsyncClient
    wa: httpx.AsyncClient  # the sandbox's HTTP API
    gateway_url: str
    pool: asyncpg.Pool
    phone_number_id: str
    app_secret: str
    access_token: str
    verify_token: str
    worker: InboxWorker
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.member.tenant_id

    def h(self, **extra: str) -> dict[str, str]:
        return self.member.headers(**extra)

    async def say(self, text: str, sender: str = "5511988887777", **extra: Any) -> dict[str, Any]:
        """The customer writes (the sandbox signs and POSTs the webhook to the gateway)."""
        r = await self.wa.post(
            "/sandbox/inbound", json={"phone_number_id": self.phone_number_id, "from": sender, "text": text, **extra}
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def sent(self, to: str = "5511988887777") -> list[dict[str, Any]]:
        r = await self.wa.get("/sandbox/messages", params={"to": to})
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with tenant_tx(self.pool, self.member.tenant_id) as conn:
            return list(await conn.fetch(sql, self.member.tenant_id, *args))

    async def thread(self, contact: str = "+5511988887777") -> asyncpg.Record | None:
        rows = await self.fetch("select * from threads where tenant_id = $1 and external_id = $2", contact)
        return rows[0] if rows else None


async def configure_luddy(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """No knowledge base in these tests: Luddy says it does not know instead of handing over."""
    r = await api.post(
        "/agents/triad", json={"luddy": {"guardrails": {"handoff_on_low_confidence": False}}}, headers=headers
    )
    assert r.status_code == 200, r.text


@contextlib.asynccontextmanager
async def inbox_harness(
    settings: Settings,
    make_member: Callable[..., Awaitable[Member]],
    relay_url: str,
    *,
    config: InboxConfig = FAST,
    start_worker: bool = True,
    wrap_agents: Callable[[AgentPort], AgentPort] | None = None,
) -> AsyncIterator[InboxHarness]:
    stream = f"test:inbox:{secrets.token_hex(4)}"
    test_settings = settings.model_copy(update={"events_stream": stream})
    app = build_fastapi(test_settings)
    async with (
        running_sandbox() as sandbox,
        serving(app) as gateway_url,
        httpx.AsyncClient(timeout=10) as http,
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as api,
        httpx.AsyncClient(base_url=sandbox.base_url, timeout=30) as wa,
        contextlib.AsyncExitStack() as stack,  # unwinds in reverse, each step bounded, also after a failure
    ):
        pool = await create_pool(settings.require_database_url(), max_size=10)
        stack.push_async_callback(close_pool, pool, "the app pool")
        relay_pool = await create_pool(relay_url, max_size=2)
        stack.push_async_callback(close_pool, relay_pool, "the relay pool")
        client = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
        on_exit(stack, "closing the Redis client", client.aclose)
        relay = OutboxRelay(relay_pool, client, stream, poll_interval_s=0.05)
        await relay.start()
        on_exit(stack, "the outbox relay", relay.stop)
        runtime = LocalRuntime(HostDeps(test_settings, pool, client, _no_search))
        on_exit(stack, "the agent runtime", runtime.close)
        member = await make_member()
        phone_id = str(10**14 + secrets.randbelow(10**14))
        app_secret, token, verify = secrets.token_hex(16), "EAAG" + secrets.token_hex(20), secrets.token_hex(8)
        r = await api.post(
            "/admin/channels/accounts",
            json={
                "channel": "whatsapp",
                "provider": "whatsapp_cloud",
                "external_id": phone_id,
                "name": "Loja",
                "base_url": sandbox.base_url,
                "secrets": {"access_token": token, "app_secret": app_secret, "verify_token": verify},
            },
            headers=member.headers(),
        )
        assert r.status_code == 200, r.text
        webhook_url = f"{gateway_url}/webhooks/whatsapp/{member.tenant_id}"
        r = await wa.post(
            "/sandbox/accounts",
            json={
                "phone_number_id": phone_id,
                "access_token": token,
                "app_secret": app_secret,
                "webhook_url": webhook_url,
            },
        )
        assert r.status_code == 200, r.text
        agents: AgentPort = RuntimeAgents(runtime, pool)
        worker = InboxWorker(
            pool,
            client,
            stream,
            wrap_agents(agents) if wrap_agents is not None else agents,
            build_connectors(http, test_settings),
            SecretBox(test_settings.channel_secrets_key),
            config,
            block_ms=100,
            min_idle_ms=2_000,
        )
        h = InboxHarness(member, sandbox, api, wa, gateway_url, pool, phone_id, app_secret, token, verify, worker)

        async def stop_worker() -> None:
            h.stop.set()
            if h.task is not None:
                h.task.cancel()
                await asyncio.gather(h.task, return_exceptions=True)

        on_exit(stack, "the inbox worker", stop_worker)
        await configure_luddy(api, member.headers())
        if start_worker:
            h.task = asyncio.create_task(worker.run_forever(h.stop))
        yield h


__all__ = ["FAST", "InboxHarness", "configure_luddy", "eventually", "inbox_harness"]
