"""API fixtures: the gateway's FastAPI app in-process (real Postgres and Redis), tenants,
members and tokens. Cluster tests run the same app under Ray Serve."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from core.tenancy import TenantId
from db.tenants import create_tenant, upsert_membership
from serve.app import build_fastapi
from serve.auth import mint_token


@dataclass(frozen=True)
class Member:
    tenant_id: TenantId
    slug: str
    user_id: str
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Tenant-Id": self.slug, **extra}


MakeMember = Callable[..., Awaitable[Member]]


@pytest.fixture(scope="session")
async def make_member(app_pool: asyncpg.Pool, settings: Settings) -> MakeMember:
    async def make(role: str = "owner", slug: str | None = None) -> Member:
        slug = slug or f"t-{secrets.token_hex(5)}"
        tenant_id = await create_tenant(app_pool, slug, f"Tenant {slug}")
        user_id = str(uuid.uuid4())
        await upsert_membership(app_pool, tenant_id, user_id, f"{user_id[:8]}@example.com", role)
        token = mint_token(settings, user_id=user_id, email=f"{user_id[:8]}@example.com")
        return Member(tenant_id, slug, user_id, token)

    return make


async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Build the gateway app and run its lifespan (pool, Redis client) around the test."""
    app = build_fastapi(settings)
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async for a in running_app(settings):
        yield a


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c
