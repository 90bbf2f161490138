"""The event bus: outbox relay (Postgres → Redis Stream) and stream consumers.

Delivery is at-least-once end to end; effects are exactly-once because a consumer's work
and its ``processed_events`` marker commit in one tenant transaction, and the stream entry
is acknowledged only after that commit.

- ``OutboxRelay`` runs with the relay role: LISTENs for commits, claims unpublished rows
  (FOR UPDATE SKIP LOCKED), XADDs them, then marks them published in the same
  transaction. If Redis is down the transaction rolls back and the rows wait; a crash
  between XADD and COMMIT republishes (consumers dedupe by event id).
- ``StreamConsumer`` reads with a consumer group, reclaims entries left pending by dead
  consumers (XAUTOCLAIM) and moves poison entries to a dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

import asyncpg
import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from core.events import Event
from core.logging import request_id_var
from core.tenancy import TenantId

from .events import OUTBOX_CHANNEL, claim_unpublished, mark_published, outbox_lag_seconds
from .pool import tenant_tx

log = logging.getLogger(__name__)

STREAM_MAXLEN = 200_000
READ_BATCH = 100  # entries per XREADGROUP


class OutboxRelay:
    def __init__(
        self,
        relay_pool: asyncpg.Pool,
        client: redis.Redis,
        stream: str,
        *,
        poll_interval_s: float = 0.5,
        batch: int = 500,
        stop_timeout_s: float = 5.0,
        linger_ms: int = 10,
    ):
        self._pool = relay_pool
        self._linger_s = linger_ms / 1000
        self._stop_timeout = stop_timeout_s
        self._redis = client
        self._stream = stream
        self._poll = poll_interval_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        self.published = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        listener: Any = await self._pool.acquire()
        await listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
        self._listener = listener
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop publishing and give the LISTEN connection back; never hangs.

        The relay task is cancelled and awaited (bounded); the listener is unregistered and
        released within ``stop_timeout_s``, and a connection that does not answer in time (a
        broken socket, a server that went away) is terminated instead of waited for."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task], self._stop_timeout, "outbox relay")
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                async with asyncio.timeout(self._stop_timeout):
                    await listener.remove_listener(OUTBOX_CHANNEL, self._on_notify)
                    await self._pool.release(listener)
                return
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay LISTEN connection terminated", extra={"error": repr(exc)})
            listener.terminate()
            with contextlib.suppress(TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                async with asyncio.timeout(self._stop_timeout):
                    await self._pool.release(listener)  # a closed connection: the pool replaces it

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = self._poll
        while True:
            raise_if_cancelled()
            # Cleared before reading the outbox, so a commit notified while a batch is being
            # published wakes the next round at once instead of after the poll interval.
            self._wake.clear()
            try:
                while await self.publish_batch() == self._batch:
                    pass
                self.last_error = None
                backoff = self._poll
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay cannot publish yet; will retry", extra={"error": self.last_error})
                backoff = min(backoff * 2, 10.0)
            if await wait_event(self._wake, backoff) and self._linger_s > 0:
                # Woken by a commit: let the burst it may belong to gather for a moment, so
                # one claim + one XADD pipeline + one mark carry many events, not one each.
                await asyncio.sleep(self._linger_s)

    async def publish_batch(self) -> int:
        """Publish one batch; returns how many events were published."""
        async with self._pool.acquire() as proxy, proxy.transaction():
            conn = cast(asyncpg.Connection, proxy)
            events = await claim_unpublished(conn, self._batch)
            if not events:
                return 0
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    fields: Any = event.to_stream_fields()
                    pipe.xadd(self._stream, fields, maxlen=STREAM_MAXLEN, approximate=True)
                await pipe.execute()
            await mark_published(conn, [e.id for e in events])
        self.published += len(events)
        return len(events)

    async def stats(self) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            lag = await outbox_lag_seconds(cast(asyncpg.Connection, conn))
        running = self._task is not None and not self._task.done()
        return {"ok": running, "lag_s": lag, "published": self.published, "last_error": self.last_error}


Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]


def raise_if_cancelled() -> None:
    """Honour a cancellation that a library swallowed.

    Seen here (Python 3.11, redis-py 8.1, httpx/anyio, asyncpg): a task cancelled mid-way
    through a handled entry sometimes went on to the next stream read, ``cancelling()``
    still set, and never stopped. The request is still recorded on the task, so each step
    boundary checks it. So does every long-running loop (the inbox scheduler, the ads
    sender): one of ours that went on after a swallowed cancel kept taking work in a
    process that was shutting it down, and its owner's shutdown waited on it forever.
    (Python 3.11's ``asyncio.timeout`` can also turn an outside cancel into a
    ``TimeoutError``, an ``OSError``, which those loops catch and retry.)
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class StreamConsumer:
    """One consumer in a consumer group; ``handler`` runs inside the event's tenant transaction."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        stream: str,
        group: str,
        name: str,
        handler: Handler,
        *,
        types: set[str] | None = None,
        min_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        block_ms: int = 1000,
        linger_ms: int = 50,
    ):
        self._pool, self._redis = pool, client
        self._stream, self._group, self._name = stream, group, name
        self._handler = handler
        self._types = types
        self._min_idle_ms = min_idle_ms
        self._max_deliveries = max_deliveries
        self._block_ms = block_ms
        self._linger_s = linger_ms / 1000
        # XAUTOCLAIM only finds entries idle for min_idle_ms, so looking more often than
        # that (at most every 5 s) finds nothing new — and costs a Redis round trip per read.
        self._reclaim_every_s = min(min_idle_ms / 1000, 5.0)
        self._next_reclaim = 0.0
        self._types_b = {t.encode() for t in types} if types is not None else None
        self.dead_letter_stream = f"{stream}:dead:{group}"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run_once(self) -> int:
        """Reclaim stuck entries, then read new ones; returns entries handled.

        Entries are acknowledged together, one XACK per batch read, once each is done
        (committed, or not of this group's types): a consumer that dies mid-batch leaves
        the done-but-unacknowledged ones pending, and their replay is harmless (the
        ``processed_events`` marker, or a skip)."""
        handled = 0
        if (now := time.monotonic()) >= self._next_reclaim:
            self._next_reclaim = now + self._reclaim_every_s
            handled = await self._reclaim()
        raise_if_cancelled()
        resp: Any = await self._redis.xreadgroup(
            self._group, self._name, {self._stream: ">"}, count=READ_BATCH, block=self._block_ms
        )
        done: list[Any] = []
        try:
            for _stream, entries in resp or []:
                for entry_id, fields in entries:
                    raise_if_cancelled()  # what is left stays pending and is reclaimed later
                    if await self._handle(entry_id, fields):
                        done.append(entry_id)
                    handled += 1
        finally:
            if done and not _cancelling():
                await self._redis.xack(self._stream, self._group, *done)
        return handled

    async def linger(self, handled: int) -> None:
        """After a read that found entries but less than a full batch, wait ``linger_ms``
        before the next: under a burst each read then takes many entries instead of one
        (one read, one decode loop, one XACK for all), for at most that much more latency.
        An idle stream is not polled faster or slower: the read blocks until an entry."""
        if 0 < handled < READ_BATCH and self._linger_s > 0:
            await asyncio.sleep(self._linger_s)

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        while not stop.is_set():
            raise_if_cancelled()
            try:
                await self.linger(await self.run_once())
            except (RedisError, OSError) as exc:
                log.warning("consumer cannot read the stream; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1.0)

    async def _reclaim(self) -> int:
        reply: Any = await self._redis.xautoclaim(
            self._stream, self._group, self._name, min_idle_time=self._min_idle_ms, start_id="0-0", count=100
        )
        claimed: list[Any] = reply[1]
        done: list[Any] = []
        try:
            for entry_id, fields in claimed:
                raise_if_cancelled()
                pending: Any = await self._redis.xpending_range(self._stream, self._group, entry_id, entry_id, 1)
                deliveries = int(pending[0]["times_delivered"]) if pending else 1
                if deliveries > self._max_deliveries:
                    await self._redis.xadd(self.dead_letter_stream, fields)
                    done.append(entry_id)
                    log.error("event moved to dead-letter stream", extra={"entry": str(entry_id), "group": self._group})
                    continue
                if await self._handle(entry_id, fields):
                    done.append(entry_id)
        finally:
            if done and not _cancelling():
                await self._redis.xack(self._stream, self._group, *done)
        return len(claimed)

    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> bool:
        """Handle one entry; True when it may be acknowledged (its effect committed, it is
        not for this group, or it went to the dead-letter stream), False to leave it pending."""
        kind = fields.get(b"type")
        if self._types_b is not None and kind is not None and kind not in self._types_b:
            return True  # not this group's: skipped without decoding the payload
        try:
            event = Event.from_stream_fields(fields)
        except ValueError:
            log.error("malformed stream entry dead-lettered", extra={"entry": str(entry_id)})
            await self._redis.xadd(self.dead_letter_stream, fields)
            return True
        if self._types is None or event.type in self._types:
            token = request_id_var.set(event.request_id)
            try:
                async with tenant_tx(self._pool, TenantId(event.tenant_id)) as conn:
                    first = await conn.fetchval(
                        """insert into processed_events (tenant_id, consumer, event_id) values ($1, $2, $3)
                           on conflict do nothing returning true""",
                        event.tenant_id,
                        self._group,
                        event.id,
                    )
                    if first:
                        await self._handler(conn, event)
            except Exception:
                # Not acked: it stays pending and is retried after min_idle_ms, then dead-lettered.
                log.exception("event handler failed", extra={"event_id": str(event.id), "type": event.type})
                return False
            finally:
                request_id_var.reset(token)
        return True


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives in
    the same loop iteration as the event (it returns the result instead of raising), and a
    loop built on it then never stops: ``OutboxRelay.stop()`` hung on exactly that when a
    NOTIFY woke the relay as it was being stopped. ``asyncio.timeout`` keeps the
    cancellation."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True


# How long a Serve replica's ``__del__`` waits for its loops: longer than the loops' own
# bounded shutdowns (the inbox worker's 10 s), shorter than Serve's 20 s graceful shutdown.
STOP_TIMEOUT_S = 15.0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], timeout_s: float, what: str) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait for them at most ``timeout_s``; returns those still running.

    A shutdown must end: a task that swallowed its cancellation is logged by name (with
    ``what`` owned it) and left behind instead of being awaited forever. A task that had
    already failed is logged with its error, and that error does not stop the caller's
    cleanup (``await task`` would raise it)."""
    tasks = set(tasks)
    for task in tasks:
        task.cancel()
    if not tasks:
        return set()
    _, still = await asyncio.wait(tasks, timeout=timeout_s)
    for task in tasks - still:
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "task had failed before it was stopped",
                extra={"owner": what, "task": task.get_name(), "error": repr(task.exception())},
            )
    if still:
        log.error(
            "tasks did not stop when cancelled", extra={"owner": what, "tasks": sorted(t.get_name() for t in still)}
        )
    return still


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll an async predicate until true or timeout (used by tests, launcher and benchmarks)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval_s)
    return await predicate()


__all__ = [
    "Handler",
    "STOP_TIMEOUT_S",
    "OutboxRelay",
    "StreamConsumer",
    "cancel_and_wait",
    "raise_if_cancelled",
    "wait_event",
    "wait_until",
]
