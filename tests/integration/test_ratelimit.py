"""Rate limits through the real gateway and a real Redis (test matrix L3): per client IP
when anonymous, per token when authenticated, shared by every replica, with 429 +
Retry-After and draft-ietf-httpapi-ratelimit-headers fields."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from db.pool import tenant_tx

from .conftest import MakeMember, client_for, running_app

LIMIT = 3


def _limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_public": LIMIT, "rate_limit_authenticated": LIMIT})


@pytest.fixture(scope="module")
async def replica_1(settings: Settings) -> AsyncIterator[FastAPI]:
    async for app in running_app(_limited(settings)):
        yield app


@pytest.fixture(scope="module")
async def replica_2(settings: Settings) -> AsyncIterator[FastAPI]:
    async for app in running_app(_limited(settings)):
        yield app


def _fresh_ip() -> str:
    """A client IP no other test (or earlier run inside the window) has used."""
    a, b, c = secrets.token_bytes(3)
    return f"10.{a}.{b}.{c}"


def _fields(value: str) -> tuple[str, dict[str, int]]:
    """Parse a structured-field item like '"ip";r=2;t=60'."""
    name, *params = value.split(";")
    return name.strip('"'), {k: int(v) for k, v in (p.split("=") for p in params)}


def _assert_429(r: httpx.Response, policy: str) -> None:
    assert r.status_code == 429, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"]["limit"] == LIMIT
    retry_after = int(r.headers["retry-after"])
    assert 1 <= retry_after <= 60
    name, rl = _fields(r.headers["ratelimit"])
    assert (name, rl["r"]) == (policy, 0)
    assert rl["t"] == retry_after, "RateLimit t and Retry-After must name the same instant"
    name, pol = _fields(r.headers["ratelimit-policy"])
    assert (name, pol["q"], pol["w"]) == (policy, LIMIT, 60)


async def test_public_requests_are_limited_per_ip(replica_1: FastAPI) -> None:
    ip = _fresh_ip()
    async with client_for(replica_1, ip) as c:
        remaining = []
        for _ in range(LIMIT):
            r = await c.get("/health")
            assert r.status_code == 200, r.text
            assert re.fullmatch(r'"ip";q=3;w=60', r.headers["ratelimit-policy"])
            assert "retry-after" not in r.headers
            remaining.append(_fields(r.headers["ratelimit"])[1]["r"])
        assert remaining == [2, 1, 0]
        _assert_429(await c.get("/health"), "ip")
        # Unknown routes count too: a scanner cannot dodge the limit with 404s.
        _assert_429(await c.get("/no-such-route"), "ip")
    async with client_for(replica_1, _fresh_ip()) as other:
        assert (await other.get("/health")).status_code == 200


async def test_authenticated_requests_are_limited_per_token(
    replica_1: FastAPI, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    hot, cold = await make_member(), await make_member()
    ip = _fresh_ip()  # both tokens come from the same IP: the token is the bucket
    async with client_for(replica_1, ip) as c:
        for _ in range(LIMIT):
            r = await c.get("/leads", headers=hot.headers())
            assert r.status_code == 200, r.text
            assert _fields(r.headers["ratelimit"])[0] == "token"
        blocked = await c.post(
            "/leads", json={"name": "Throttled"}, headers=hot.headers(**{"Idempotency-Key": str(uuid.uuid4())})
        )
        _assert_429(blocked, "token")
        # The 429 was answered before the handler: nothing was written.
        async with tenant_tx(app_pool, hot.tenant_id) as conn:
            assert await conn.fetchval("select count(*) from leads where tenant_id = $1", hot.tenant_id) == 0
        r = await c.get("/leads", headers=cold.headers())
        assert r.status_code == 200, r.text
        assert _fields(r.headers["ratelimit"])[1]["r"] == LIMIT - 1
        # Anonymous traffic from the same IP has its own bucket.
        assert (await c.get("/health")).status_code == 200


async def test_replicas_share_one_counter(replica_1: FastAPI, replica_2: FastAPI, make_member: MakeMember) -> None:
    assert replica_1.state.tridium is not replica_2.state.tridium
    ip = _fresh_ip()
    async with client_for(replica_1, ip) as c1, client_for(replica_2, ip) as c2:
        statuses = [(await c.get("/health")).status_code for c in (c1, c2, c1)]
        assert statuses == [200, 200, 200]
        _assert_429(await c2.get("/health"), "ip")
        _assert_429(await c1.get("/health"), "ip")
    m = await make_member()
    async with client_for(replica_2, _fresh_ip()) as c2, client_for(replica_1, _fresh_ip()) as c1:
        statuses = [(await c.get("/leads", headers=m.headers())).status_code for c in (c2, c1, c2)]
        assert statuses == [200, 200, 200]
        _assert_429(await c1.get("/leads", headers=m.headers()), "token")
