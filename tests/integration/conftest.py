"""API fixtures: the gateway's FastAPI app in-process (real Postgres and Redis), tenants,
members and tokens. Cluster tests run the same app under Ray Serve."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from db.bus import cancel_and_wait
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


# Loops that take work every test shares (the outbox of all tenants, the inbox's due set).
# One left running by a test keeps taking it onto that test's dead stream: every later
# test that waits for an event fails, far from the cause. A test aborted mid-await (the
# suite's timeout fires in the event loop and abandons the test's coroutine, its teardown
# never running) leaves exactly that behind.
_SHARED_WORK_LOOPS = ("outbox-relay", "inbox-scheduler")


@pytest.fixture(autouse=True)
async def _no_shared_work_loop_outlives_its_test() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    leaked = [t for t in asyncio.all_tasks() - before if not t.done() and t.get_name().startswith(_SHARED_WORK_LOOPS)]
    if leaked:
        still = await cancel_and_wait(leaked, 5.0, "a finished test")
        pytest.fail(
            f"left running after the test (cancelled now, so later tests are not starved): "
            f"{sorted(t.get_name() for t in leaked)}; did not stop: {sorted(t.get_name() for t in still)}"
        )
