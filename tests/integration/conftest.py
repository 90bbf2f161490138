"""API fixtures: the gateway's FastAPI app in-process (real Postgres and Redis), tenants,
members and tokens. Cluster tests run the same app under Ray Serve."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from serve.app import build_fastapi

from ..conftest import MakeMember, Member  # noqa: F401 — re-exported for test modules


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
