"""Outbox → Redis Stream → consumer groups, with real Postgres and Redis.

The relay runs in-process here (the same class the EventRelay Serve deployment runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as redis

from core.events import Event
from db import crm
from db.bus import OutboxRelay, StreamConsumer, wait_until
from db.pool import create_pool, tenant_tx
from db.tenants import create_tenant

from ..conftest import Infra


@pytest.fixture
async def relay_pool(migrated: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(migrated.relay_url, max_size=3)
    yield pool
    await pool.close()


async def _stream_events(client: redis.Redis, stream: str) -> list[Event]:
    entries = await client.xrange(stream)
    return [Event.from_stream_fields(fields) for _id, fields in entries]


async def _new_tenant(pool: asyncpg.Pool) -> uuid.UUID:
    return await create_tenant(pool, f"ev-{secrets.token_hex(5)}", "events")


async def test_relay_publishes_committed_events_only(
    app_pool: asyncpg.Pool, relay_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    stream = f"test:events:{secrets.token_hex(4)}"
    relay = OutboxRelay(relay_pool, redis_client, stream, poll_interval_s=0.1)
    tid = await _new_tenant(app_pool)
    await relay.start()
    try:
        async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
            lead = await crm.create_lead(conn, tid, {"name": "Committed"})  # type: ignore[arg-type]
        with pytest.raises(RuntimeError):
            async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
                await crm.create_lead(conn, tid, {"name": "Rolled back"})  # type: ignore[arg-type]
                raise RuntimeError("abort")

        async def published() -> bool:
            return any(e.payload.get("lead_id") == str(lead["id"]) for e in await _stream_events(redis_client, stream))

        assert await wait_until(published, 10)
        events = [e for e in await _stream_events(redis_client, stream) if e.tenant_id == tid]
        assert [e.type for e in events] == ["lead.created"]
    finally:
        await relay.stop()


async def test_event_written_while_redis_is_down_is_delivered_after_it_returns(
    app_pool: asyncpg.Pool, relay_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    from tridium.services import EmbeddedRedis

    port = 63000 + secrets.randbelow(900)
    own = EmbeddedRedis(tmp_path, port=port)
    own.start()
    client = redis.from_url(own.url(), socket_timeout=1, socket_connect_timeout=1)
    stream = "test:outage"
    relay = OutboxRelay(relay_pool, client, stream, poll_interval_s=0.1)
    tid = await _new_tenant(app_pool)
    await relay.start()
    try:
        own.stop()  # Redis goes away
        async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
            lead = await crm.create_lead(conn, tid, {"name": "During outage"})  # type: ignore[arg-type]

        async def relay_failed() -> bool:
            return relay.last_error is not None

        assert await wait_until(relay_failed, 10), "relay never noticed the outage"
        async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
            unpublished = await conn.fetchval(
                "select count(*) from event_log where tenant_id = $1 and published_at is null", tid
            )
        assert unpublished == 1  # kept, not lost, not marked published

        own.start()  # Redis comes back (same data dir, AOF on)

        async def delivered() -> bool:
            try:
                events = await _stream_events(client, stream)
            except (redis.ConnectionError, OSError):
                return False
            return any(e.payload.get("lead_id") == str(lead["id"]) for e in events)

        assert await wait_until(delivered, 30, interval_s=0.2)
        async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
            assert (
                await conn.fetchval("select count(*) from event_log where tenant_id = $1 and published_at is null", tid)
                == 0
            )
    finally:
        await relay.stop()
        await client.aclose()
        own.stop()


async def test_consumer_group_dedupes_acks_after_commit_and_reclaims(
    app_pool: asyncpg.Pool, relay_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    stream = f"test:consume:{secrets.token_hex(4)}"
    tid = await _new_tenant(app_pool)
    relay = OutboxRelay(relay_pool, redis_client, stream, poll_interval_s=0.1)
    calls: list[str] = []
    fail_once = {"armed": True}

    async def handler(conn: asyncpg.Connection, event: Event) -> None:
        # The effect is written in the same transaction as the processed marker.
        await conn.execute(
            "insert into audit_logs (tenant_id, actor, action, target) values ($1, 'test', $2, $3)",
            event.tenant_id,
            event.type,
            str(event.id),
        )
        if fail_once["armed"]:
            fail_once["armed"] = False
            raise RuntimeError("crash before commit")
        calls.append(str(event.id))

    await relay.start()
    try:
        async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
            await crm.create_lead(conn, tid, {"name": "X"})  # type: ignore[arg-type]

        async def one_in_stream() -> bool:
            return len(await redis_client.xrange(stream)) >= 1

        assert await wait_until(one_in_stream, 10)
        c1 = StreamConsumer(app_pool, redis_client, stream, "g1", "c1", handler, min_idle_ms=50, block_ms=10)
        await c1.ensure_group()
        await c1.run_once()  # handler fails: rolled back, not acked
        assert calls == []
        pending = await redis_client.xpending(stream, "g1")
        assert pending["pending"] == 1
        await asyncio.sleep(0.1)
        c2 = StreamConsumer(app_pool, redis_client, stream, "g1", "c2", handler, min_idle_ms=50, block_ms=10)
        await c2.run_once()  # reclaims the stuck entry from c1 and succeeds
        assert len(calls) == 1
        assert (await redis_client.xpending(stream, "g1"))["pending"] == 0
        # A duplicate delivery of the same event (relay republish) has no second effect.
        entries = await redis_client.xrange(stream)
        await redis_client.xadd(stream, entries[0][1])
        await c2.run_once()
        assert len(calls) == 1
        async with tenant_tx(app_pool, tid) as conn:  # type: ignore[arg-type]
            effects = await conn.fetchval("select count(*) from audit_logs where tenant_id = $1", tid)
        assert effects == 1  # the failed attempt's write was rolled back with it
    finally:
        await relay.stop()


async def test_poison_entry_goes_to_dead_letter(app_pool: asyncpg.Pool, redis_client: redis.Redis) -> None:
    stream = f"test:poison:{secrets.token_hex(4)}"

    async def handler(conn: asyncpg.Connection, event: Event) -> None:
        raise AssertionError("never called for malformed entries")

    await redis_client.xadd(stream, {"event": "{not json"})
    c = StreamConsumer(app_pool, redis_client, stream, "g", "c", handler, block_ms=10)
    await c.ensure_group()
    await c.run_once()
    assert await redis_client.xlen(c.dead_letter_stream) == 1
    assert (await redis_client.xpending(stream, "g"))["pending"] == 0


async def test_relay_stops_when_a_notify_wakes_it_as_it_is_stopped(
    relay_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    """A NOTIFY that wakes the relay in the loop iteration where ``stop()`` cancels it:
    ``asyncio.wait_for`` (Python 3.11) swallowed that cancellation and the relay ran on,
    so ``stop()`` hung (the inbox tests' teardown failure). Now it stops every time."""
    relay = OutboxRelay(relay_pool, redis_client, f"test:stop:{secrets.token_hex(4)}", poll_interval_s=5.0)
    for _ in range(5):
        await relay.start()
        await asyncio.sleep(0.3)  # published nothing (empty outbox), idle, waiting for a wake-up
        relay._on_notify()  # the notification arrives ...
        await asyncio.sleep(0)  # ... its waiter completes ...
        async with asyncio.timeout(5):  # ... and stop() cancels in the same iteration
            await relay.stop()
        assert (await relay.stats())["ok"] is False


class _FreezableProxy:
    """A TCP proxy to Postgres that, once ``freeze`` is set, forwards nothing more (a
    half-open connection: the socket stays up, nothing answers)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.freeze = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.freeze.is_set():
                    await asyncio.Event().wait()
                writer.write(data)
                await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        for a, b in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(a, b))
            self._tasks.add(task)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for w in self._writers:
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_relay_stop_terminates_a_listen_connection_that_no_longer_answers(
    migrated: Infra, redis_client: redis.Redis
) -> None:
    url = urlsplit(migrated.relay_url)
    proxy = _FreezableProxy(url.port or 5432)
    port = await proxy.start()
    proxied = urlunsplit(url._replace(netloc=f"{url.netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}"))
    pool = await create_pool(proxied, min_size=1, max_size=2)
    try:
        relay = OutboxRelay(pool, redis_client, f"test:frozen:{secrets.token_hex(4)}", stop_timeout_s=1.0)
        await relay.start()
        assert relay._listener is not None
        listener = relay._listener._con  # the connection behind the pool's proxy
        proxy.freeze.set()  # UNLISTEN and the release's reset will never be answered
        async with asyncio.timeout(10):
            await relay.stop()
        assert listener.is_closed()  # terminated, not waited for
    finally:
        pool.terminate()
        await proxy.close()


async def test_a_group_skips_other_types_unread_and_still_handles_entries_without_a_type_field(
    app_pool: asyncpg.Pool, redis_client: redis.Redis
) -> None:
    """Entries carry ``type`` beside the payload: a group skips (and acks) other groups'
    events without decoding them; an entry written before that field existed is decoded
    and filtered as before; a payload that is not an event is still dead-lettered even if
    its ``type`` field says it is this group's."""
    tid = await create_tenant(app_pool, f"skip-{secrets.token_hex(4)}", "Skip")
    stream = f"test:skip:{secrets.token_hex(4)}"
    seen: list[str] = []

    async def handler(conn: asyncpg.Connection, event: Event) -> None:
        seen.append(event.payload["n"])

    def event(kind: str, n: str) -> Event:
        return Event(id=uuid.uuid4(), tenant_id=tid, type=kind, payload={"n": n}, created_at=datetime.now(UTC))

    await redis_client.xadd(stream, event("lead.created", "mine").to_stream_fields())
    await redis_client.xadd(stream, {**event("message.received", "other").to_stream_fields(), "event": "{not json"})
    await redis_client.xadd(stream, {"event": event("lead.created", "old-format").model_dump_json()})
    await redis_client.xadd(stream, {"event": event("deal.won", "old-other").model_dump_json()})
    await redis_client.xadd(stream, {"event": "{not json", "type": "lead.created"})
    c = StreamConsumer(app_pool, redis_client, stream, "g", "c", handler, types={"lead.created"}, block_ms=10)
    await c.ensure_group()
    assert await c.run_once() == 5
    assert seen == ["mine", "old-format"]
    # The undecodable "other" entry was skipped by its type, unread: not dead-lettered.
    assert await redis_client.xlen(c.dead_letter_stream) == 1
    assert (await redis_client.xpending(stream, "g"))["pending"] == 0
