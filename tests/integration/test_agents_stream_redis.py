"""The SSE relay of a run (``serve.routers.agents._events``) against a Redis slower than the
client's socket timeout: a blocking read that times out is retried from the same entry, so
the stream carries on and nothing is lost or repeated (a CI run on loaded cores cut two
agent streams with ``TimeoutError`` mid-answer before this)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as redis

from actors.events import RunEventBuffer
from serve.routers.agents import _events

from ..conftest import Infra

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_read_that_times_out_is_retried_from_the_same_entry(migrated: Infra) -> None:
    # Every blocking read (1 s) outlives this client's 0.3 s socket timeout.
    slow = redis.from_url(migrated.redis_url, socket_timeout=0.3)
    writer = redis.from_url(migrated.redis_url)
    try:
        buffer, tenant, run = RunEventBuffer(slow, 60), uuid.uuid4(), uuid.uuid4()
        out = RunEventBuffer(writer, 60)
        await out.append(tenant, run, "run.started", {"run_id": str(run)})

        async def later() -> None:
            await asyncio.sleep(0.8)  # the stream has timed out at least once by now
            await out.append(tenant, run, "delta", {"text": "olá"})
            await asyncio.sleep(0.8)
            await out.append(tenant, run, "run.completed", {"output": "olá"})

        feeder = asyncio.create_task(later())
        # The runtime is not reached on this path (no empty read, a terminal event at the end).
        chunks = [c async for c in _events(None, buffer, tenant, "luddy", run, "0-0")]  # type: ignore[arg-type]
        await feeder
        body = b"".join(chunks).decode()
        assert [line for line in body.splitlines() if line.startswith("event:")] == [
            "event: run.started",
            "event: delta",
            "event: run.completed",
        ]
        assert ": keepalive" in body  # the failed reads kept the connection alive
    finally:
        await slow.aclose()
        await writer.aclose()
