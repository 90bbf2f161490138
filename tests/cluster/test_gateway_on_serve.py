"""The gateway through real Ray Serve (HTTP proxy → Gateway replica → EventRelay replica)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from core.events import Event
from db.bus import wait_until
from db.pool import tenant_tx

from ..integration.conftest import MakeMember
from .conftest import Platform

pytestmark = pytest.mark.cluster


async def test_health_sees_postgres_redis_and_ray(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as c:
        r = await c.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"postgres": "ok", "redis": "ok", "ray": "ok"}


async def test_demo_token_creates_and_lists_leads(platform: Platform) -> None:
    headers = {"Authorization": f"Bearer {platform.token}", "X-Tenant-Id": "demo"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers) as c:
        created = await c.post("/leads", json={"name": "Serve Lead"}, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        listed = await c.get("/leads", params={"q": "Serve Lead"})
    assert created.json()["id"] in [x["id"] for x in listed.json()["items"]]


async def test_parallel_same_key_creates_one_lead_through_serve(
    platform: Platform, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    key = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=30) as c:
        results = await asyncio.gather(
            *[c.post("/leads", json={"name": "Once"}, headers=m.headers(**{"Idempotency-Key": key})) for _ in range(20)]
        )
    assert {r.status_code for r in results} <= {201, 409}
    assert any(r.status_code == 201 for r in results)
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        assert await conn.fetchval("select count(*) from leads where tenant_id = $1", m.tenant_id) == 1


async def test_outbox_events_reach_the_stream_via_the_relay_deployment(
    platform: Platform, make_member: MakeMember, redis_client: redis.Redis
) -> None:
    m = await make_member()
    async with httpx.AsyncClient(base_url=platform.base_url) as c:
        lead = (await c.post("/leads", json={"name": "Evented"}, headers=m.headers(**{"Idempotency-Key": "e1"}))).json()

    async def seen() -> bool:
        entries = await redis_client.xrevrange("tridium:events", count=200)
        return any(Event.from_stream_fields(f).payload.get("lead_id") == lead["id"] for _i, f in entries)

    assert await wait_until(seen, 15, interval_s=0.1)
    async with httpx.AsyncClient(base_url=platform.base_url) as c:
        metrics = (await c.get("/metrics")).text
    assert "tridium_http_request_duration_seconds_bucket" in metrics
    assert "tridium_outbox_lag_seconds" in metrics
