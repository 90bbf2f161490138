"""The lean webhook ingress (ADR 0006) answers exactly what the FastAPI route answers —
byte for byte, stored rows and outbox events included — for every outcome a provider can
cause, and counts the webhooks' per-IP budget in-process (no Redis key). The one-statement
store (ADR 0008, the default) and the older tenant transaction answer the same too."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI

from core.settings import Settings
from db.pool import tenant_tx

from ..payments_support import hooked_member as _hooked
from .conftest import MakeMember, Member, client_for, running_app


@pytest.fixture(scope="module")
async def apps(settings: Settings) -> AsyncIterator[dict[str, FastAPI]]:
    lean = settings.model_copy(update={"webhook_lean_ingress": True, "max_body_bytes": 4096})
    full = settings.model_copy(update={"webhook_lean_ingress": False, "max_body_bytes": 4096})
    lean_tx = lean.model_copy(update={"webhook_one_call": False})
    async for a in running_app(lean):
        async for b in running_app(full):
            async for c in running_app(lean_tx):
                yield {"lean": a, "full": b, "lean_tx": c}


def _event(prefix: str) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{prefix}",
            "event": "ACCOUNT_STATUS_GENERAL_APPROVAL_APPROVED",
            "dateCreated": "2026-12-03 07:00:00",
        }
    ).encode()


async def _rows(pool: asyncpg.Pool, m: Member) -> tuple[list[str], list[str]]:
    async with tenant_tx(pool, m.tenant_id) as conn:
        stored = await conn.fetch(
            "select event_id from asaas_events where tenant_id = $1 order by event_id", m.tenant_id
        )
        emitted = await conn.fetch(
            """select payload->>'event_id' as e from event_log
               where tenant_id = $1 and type = 'asaas.event.received' order by 1""",
            m.tenant_id,
        )
    return [r["event_id"] for r in stored], [r["e"] for r in emitted]


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.headers["content-type"] == b.headers["content-type"]
    body_a: Any = a.json()
    body_b: Any = b.json()
    if "error" in body_a:  # request ids differ per request; everything else is the same
        assert body_a == body_b
    else:
        assert a.content == b.content


async def test_lean_and_full_paths_answer_the_same(
    apps: dict[str, FastAPI], make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    results: dict[str, list[httpx.Response]] = {}
    stored: dict[str, tuple[list[str], list[str]]] = {}
    for name, app in apps.items():
        m, token = await _hooked(make_member, app_pool)
        h = {"asaas-access-token": token, "content-type": "application/json"}
        async with client_for(app) as c:
            url = "/webhooks/asaas"
            results[name] = [
                await c.post(url, content=_event("one"), headers=h),  # stored
                await c.post(url, content=_event("one"), headers=h),  # duplicate
                await c.post(url, content=_event("two"), headers=h),
                await c.post(url, content=_event("x"), headers=h | {"asaas-access-token": token + "x"}),
                await c.post(url, content=_event("x"), headers={"content-type": "application/json"}),
                await c.post(url, content=b"{not json", headers=h),
                await c.post(url, content=b"[]", headers=h),
                # Python's json accepts these, Postgres does not: 400, not a 500 from the insert.
                await c.post(url, content=b'{"id": "n", "event": "PAYMENT_CREATED", "v": NaN}', headers=h),
                await c.post(url, content=b'{"id": "s\\ud800", "event": "PAYMENT_CREATED"}', headers=h),
                await c.post(url, content=b"[" * 2000 + b"]" * 2000, headers=h),
                await c.post(url, content=json.dumps({"id": "e", "pad": "x" * 5000}).encode(), headers=h),
            ]
        stored[name] = await _rows(app_pool, m)
    lean = results["lean"]
    assert [r.status_code for r in lean] == [200, 200, 200, 401, 401, 400, 400, 400, 400, 400, 413]
    assert lean[0].json() == {"received": True, "duplicate": False}
    assert lean[1].json() == {"received": True, "duplicate": True}
    for other in ("full", "lean_tx"):
        for a, b in zip(lean, results[other], strict=True):
            _same(a, b)
            assert a.headers.get("x-request-id") and b.headers.get("x-request-id")
    # Acknowledged means stored: the same rows and one outbox event per unique id.
    expected = (["evt_one", "evt_two"], ["evt_one", "evt_two"])
    assert stored["lean"] == stored["full"] == stored["lean_tx"] == expected
    # The route label of the metrics is the route template on both paths.
    async with client_for(apps["lean"]) as c:
        metrics = (await c.get("/metrics")).text
    assert 'route="/webhooks/asaas"' in metrics and 'route="unmatched",status="200"' not in metrics


async def test_lean_webhook_budget_is_counted_in_process(
    settings: Settings, make_member: MakeMember, app_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    limited = settings.model_copy(update={"webhook_lean_ingress": True, "rate_limit_webhooks": 3})
    ip = f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    async for app in running_app(limited):
        m, token = await _hooked(make_member, app_pool)
        h = {"asaas-access-token": token, "content-type": "application/json"}
        async with client_for(app, client_ip=ip) as c:
            got = [await c.post("/webhooks/asaas", content=_event(f"rl{i}"), headers=h) for i in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    assert got[3].json()["error"]["code"] == "rate_limited" and got[3].headers["retry-after"]
    assert got[0].headers["ratelimit-policy"] == '"webhook";q=3;w=60'
    assert got[2].headers["ratelimit"].startswith('"webhook";r=0;')
    assert await redis_client.exists(f"rl:webhook:{ip}") == 0, "the lean path made a Redis round trip"
    assert (await _rows(app_pool, m))[0] == ["evt_rl0", "evt_rl1", "evt_rl2"], "a refused delivery was stored"
