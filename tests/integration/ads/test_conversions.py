"""Conversions back to the ad platform through the real bus (outbox → relay → Redis Stream →
the ``ads`` consumer group) and the Meta ads sandbox on a real socket: one sale (paid Pix +
the deal it wins, each event delivered twice) is received ONCE by the sandbox with hashed
identifiers; a lead with no ad attribution or no ad account is recorded ``skipped`` with its
reason; platform failures are retried with backoff and end ``failed``, visibly; the lead is
kept out of nurture; another tenant sees none of it."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from core.settings import Settings
from core.tenancy import TenantId
from db import crm
from db.bus import OutboxRelay
from db.events import emit
from db.pool import create_pool, tenant_tx
from tests.payments_support import bounded, eventually
from tools.ads import AdsRegistry
from tools.ads.accounts import AdsDeps, provision
from tools.ads.conversions import RetryPolicy, conversion_event_id
from tools.ads.meta import MetaAdsConnector
from tools.ads.meta.sandbox import running_sandbox
from tools.ads.worker import AdsWorker, AdsWorkerConfig
from tools.inbox import SecretBox

from ...ads_support import rows
from ...conftest import Infra, MakeMember

pytestmark = pytest.mark.asyncio(loop_scope="session")
TOKEN = "EAAB-sandbox-token-conv"
PIXEL = "555000222"


@dataclass
class Env:
    pool: asyncpg.Pool
    tenant: TenantId
    other: TenantId
    sandbox: httpx.AsyncClient
    ad_account: str
    account_id: UUID

    async def lead(self, phone: str, email: str, platform: str | None = "meta", **touch: Any) -> tuple[UUID, UUID]:
        async with tenant_tx(self.pool, self.tenant) as conn:
            lead = await crm.create_lead(conn, self.tenant, {"name": "Maria", "phone": phone, "email": email})
            deal = await crm.create_deal(
                conn, self.tenant, {"lead_id": lead["id"], "title": "Plano", "value_cents": 19_900}
            )
            if platform:
                await conn.execute(
                    """insert into lead_attribution (tenant_id, lead_id, platform, campaign_external_id,
                                                     ad_external_id, click_id_kind, click_id, source)
                       values ($1, $2, $3, '120201', '120203', $4, $5, 'whatsapp_referral')""",
                    self.tenant,
                    lead["id"],
                    platform,
                    touch.get("kind", "ctwa_clid"),
                    touch.get("clid", "ARAk-ctwa-" + secrets.token_hex(6)),
                )
        return UUID(str(lead["id"])), UUID(str(deal["id"]))

    async def sale(self, lead: UUID, deal: UUID, payment_id: str, times: int = 2) -> None:
        """A paid Pix that wins its deal (what the payments reconciler emits), delivered twice."""
        base = {"intent_id": str(UUID(int=secrets.randbits(128))), "payment_id": payment_id, "lead_id": str(lead),
                "deal_id": str(deal), "amount_cents": 19_900, "method": "pix"}  # fmt: skip
        for _ in range(times):
            async with tenant_tx(self.pool, self.tenant) as conn:
                await emit(conn, self.tenant, "payment.succeeded", {**base, "status": "RECEIVED", "source": "webhook"})
                await emit(conn, self.tenant, "deal.won", {"deal_id": str(deal), "lead_id": str(lead),
                                                           "value_cents": 19_900, "source": "payment"})  # fmt: skip

    async def conversions(self) -> dict[str, Any]:
        r = await self.sandbox.get("/sandbox/conversions", params={"account": self.ad_account})
        out: dict[str, Any] = r.json()
        return out


@pytest.fixture
async def env(settings: Settings, make_member: MakeMember, migrated: Infra) -> AsyncIterator[Env]:
    stream = f"test:ads:{secrets.token_hex(4)}"
    member, other = await make_member(), await make_member()
    pool = await create_pool(settings.require_database_url(), max_size=6)
    relay_pool = await create_pool(migrated.relay_url, max_size=2)
    client = redis.from_url(settings.require_redis_url(), socket_timeout=5, socket_connect_timeout=2)
    relay = OutboxRelay(relay_pool, client, stream, poll_interval_s=0.05)
    await relay.start()
    stop = asyncio.Event()

    async def no_wait(_s: float) -> None:
        return None

    async with (
        running_sandbox() as sb,
        httpx.AsyncClient(base_url=sb.base_url, timeout=10) as admin,
        httpx.AsyncClient(timeout=10) as http,
    ):
        ad_account = str(10**14 + secrets.randbelow(10**13))
        r = await admin.post(
            "/sandbox/accounts",
            json={"ad_account_id": ad_account, "access_token": TOKEN, "pixel_id": PIXEL, "waba_id": "102290129340398"},
        )
        r.raise_for_status()
        box = SecretBox(settings.channel_secrets_key)
        async with tenant_tx(pool, member.tenant_id) as conn:
            account = await provision(
                conn, member.tenant_id, box, platform="meta", external_id=ad_account, base_url=sb.base_url,
                config={"pixel_id": PIXEL, "page_id": "100200300", "waba_id": "102290129340398"},
                secrets={"access_token": TOKEN},
            )  # fmt: skip
        deps = AdsDeps(box, AdsRegistry([MetaAdsConnector(http, api_version="v21.0", sleep=no_wait)]))
        policy = RetryPolicy(max_attempts=3, base_s=0.05, lease_s=5.0)
        worker = AdsWorker(
            pool, client, stream, deps, AdsWorkerConfig(tick_s=0.05, policy=policy), block_ms=100, min_idle_ms=2_000
        )
        task = asyncio.create_task(worker.run_forever(stop))
        try:
            yield Env(pool, member.tenant_id, other.tenant_id, admin, ad_account, account["id"])
        finally:
            stop.set()
            task.cancel()
            await bounded("the ads worker", asyncio.gather(task, return_exceptions=True))
            await bounded("the outbox relay", relay.stop())
            await client.aclose()
            for p in (relay_pool, pool):
                await bounded("closing a pool", p.close())


CONV = "select status, platform, error_code, identifiers, attempts, event_id from ad_conversions where tenant_id = $1"


async def test_one_sale_is_received_once_hashed_and_the_lead_leaves_nurture(env: Env) -> None:
    lead, deal = await env.lead("+5511977776666", " Maria@Example.com ")
    await env.sale(lead, deal, "pay_000001")

    async def sent() -> bool:
        got = await rows(env.pool, env.tenant, CONV)
        return len(got) == 1 and got[0]["status"] == "sent"

    await eventually(sent, 15, "the conversion sent")
    await asyncio.sleep(0.5)  # the duplicates had time to arrive: still one
    received = await env.conversions()
    assert received["unique_events"] == 1 and received["duplicates"] == 0, received
    event = received["events"][0]["event"]
    [row] = await rows(env.pool, env.tenant, CONV)
    assert event["event_id"] == row["event_id"] == conversion_event_id(env.tenant, "purchase", f"deal:{deal}")
    assert event["event_name"] == "Purchase" and event["custom_data"]["currency"] == "BRL"
    phone_hash = hashlib.sha256(b"5511977776666").hexdigest()
    assert event["user_data"]["ph"] == [phone_hash] and "5511977776666" not in str(event)
    assert event["user_data"]["em"] == [hashlib.sha256(b"maria@example.com").hexdigest()]
    assert row["identifiers"]["ph"] == phone_hash and "maria" not in str(row["identifiers"]).lower()
    [sup] = await rows(
        env.pool, env.tenant, "select kind from lead_suppressions where tenant_id = $1 and lead_id = $2", lead
    )
    assert sup["kind"] == "customer"
    types = [r["type"] for r in await rows(env.pool, env.tenant, "select type from event_log where tenant_id = $1")]
    assert types.count("ads.conversion.queued") == 1 and types.count("ads.conversion.sent") == 1
    assert types.count("lead.nurture_paused") == 1
    # Another tenant sees none of it.
    assert await rows(env.pool, env.other, "select id from ad_conversions where tenant_id = $1") == []
    assert await rows(env.pool, env.other, "select id from lead_suppressions where tenant_id = $1") == []


async def test_unattributed_and_unconfigured_leads_are_skipped_with_a_reason(env: Env) -> None:
    plain, plain_deal = await env.lead("+5511911112222", "a@example.com", platform=None)
    google, google_deal = await env.lead("+5511933334444", "b@example.com", platform="google", kind="gclid")
    await env.sale(plain, plain_deal, "pay_000002", times=1)
    await env.sale(google, google_deal, "pay_000003", times=1)

    async def skipped() -> bool:
        got = await rows(env.pool, env.tenant, CONV + " and status = 'skipped'")
        return len(got) == 2

    await eventually(skipped, 15, "two skipped conversions")
    got = {r["error_code"]: r for r in await rows(env.pool, env.tenant, CONV)}
    assert got["no_attribution"]["platform"] is None
    assert got["no_ad_account"]["platform"] == "google"
    assert (await env.conversions())["unique_events"] == 0  # nothing went to Meta


async def test_platform_errors_are_retried_then_fail_visibly(env: Env) -> None:
    r = await env.sandbox.post("/sandbox/faults", json={"operation": "events", "kind": "server_error", "count": 100})
    r.raise_for_status()
    lead, deal = await env.lead("+5511955556666", "c@example.com")
    await env.sale(lead, deal, "pay_000004", times=1)

    async def failed() -> bool:
        got = await rows(env.pool, env.tenant, CONV)
        return len(got) == 1 and got[0]["status"] == "failed"

    await eventually(failed, 20, "the conversion failed after its retries")
    [row] = await rows(env.pool, env.tenant, CONV)
    assert row["attempts"] == 3 and row["error_code"]
    events = await rows(
        env.pool, env.tenant, "select payload from event_log where tenant_id = $1 and type = 'ads.conversion.failed'"
    )
    assert len(events) == 1 and events[0]["payload"]["attempts"] == 3
