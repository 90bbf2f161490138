"""Stream health on /metrics: consumer-group lag, pending entries and dead letters, read
from the real Redis at scrape time (the series the alert rules in ops/prometheus use)."""

from __future__ import annotations

import secrets
import time

import redis.asyncio as redis

from core.settings import Settings
from db.bus_stats import stream_stats

from .conftest import client_for, running_app


async def _backlogged_stream(client: redis.Redis, age_s: int) -> str:
    """A stream whose ``slow`` group read one old entry and never acked it, with two more
    unread and two entries in its dead-letter stream; the ``fast`` group is caught up."""
    stream = f"test:ops:{secrets.token_hex(4)}"
    base_ms = int(time.time() * 1000) - age_s * 1000
    for i in range(3):
        await client.xadd(stream, {"n": str(i)}, id=f"{base_ms + i}-0")
    await client.xgroup_create(stream, "slow", id="0")
    await client.xgroup_create(stream, "fast", id="0")
    await client.xreadgroup("slow", "c1", {stream: ">"}, count=1)
    fast: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] = await client.xreadgroup(
        "fast", "c1", {stream: ">"}, count=10
    )
    await client.xack(stream, "fast", *(entry_id for entry_id, _ in fast[0][1]))
    await client.xadd(f"{stream}:dead:slow", {"n": "x"})
    await client.xadd(f"{stream}:dead:slow", {"n": "y"})
    return stream


async def test_stream_stats_measure_the_oldest_unfinished_entry(redis_client: redis.Redis) -> None:
    stream = await _backlogged_stream(redis_client, age_s=240)
    stats = {g.group: g for g in await stream_stats(redis_client, stream)}
    assert stats["slow"].pending == 1
    assert 239 <= stats["slow"].lag_s <= 260
    assert stats["slow"].dead_letters == 2
    assert stats["fast"].pending == 0
    assert stats["fast"].lag_s == 0.0
    assert stats["fast"].dead_letters == 0
    assert await stream_stats(redis_client, f"{stream}:absent") == []


async def test_metrics_expose_stream_lag_and_dead_letters(settings: Settings, redis_client: redis.Redis) -> None:
    stream = await _backlogged_stream(redis_client, age_s=400)
    async for app in running_app(settings.model_copy(update={"events_stream": stream})):
        async with client_for(app) as c:
            text = (await c.get("/metrics")).text
    lines = {ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in text.splitlines() if ln and not ln.startswith("#")}
    labels = f'{{group="slow",stream="{stream}"}}'
    assert lines[f"tridium_stream_lag_seconds{labels}"] > 180
    assert lines[f"tridium_stream_pending{labels}"] == 1
    assert lines[f"tridium_stream_dead_letters{labels}"] == 2
    assert lines[f'tridium_stream_lag_seconds{{group="fast",stream="{stream}"}}'] == 0
