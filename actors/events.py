"""Run events, buffered in a Redis stream per (tenant, run) with a TTL.

The agent appends; any gateway replica tails. An SSE event id is ``{run_id}:{entry_id}``
(the stream entry id), so ``Last-Event-ID`` says both which run and where in it a client
was: resuming reads the stream after that entry, on whichever replica it lands.

A run writes its events through a ``RunEventWriter``: the run goes on while its events are
written, in order, by one background task per run that sends everything pending in one
pipeline (XADD per event, one EXPIRE). Events that pile up while a write is in flight go
out together in the next one, so a burst (``tool.result`` + ``sources``, a few ``delta``)
costs one Redis round trip and reaches readers as one read. ``flush()`` waits until all
is in Redis: a run flushes before it is reported done.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis.asyncio as redis

from core.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class RunEvent:
    id: str  # SSE id: "{run_id}:{entry_id}"
    event: str
    data: dict[str, Any]


def parse_event_id(value: str) -> tuple[UUID, str]:
    """``Last-Event-ID`` → (run_id, stream entry id)."""
    try:
        run, _, entry = value.strip().partition(":")
        ms, _, seq = entry.partition("-")
        int(ms), int(seq)
        return UUID(run), entry
    except ValueError as exc:
        raise ValidationFailed(
            "Last-Event-ID is not an event id of a run",
            details=[{"loc": ["header", "Last-Event-ID"], "msg": "expected {run_id}:{entry}"}],
        ) from exc


class RunEventBuffer:
    def __init__(self, client: redis.Redis, ttl_s: int):
        self._redis = client
        self._ttl = ttl_s

    @staticmethod
    def key(tenant_id: UUID, run_id: UUID) -> str:
        return f"tridium:agents:run:{tenant_id}:{run_id}"

    async def append(self, tenant_id: UUID, run_id: UUID, event: str, data: dict[str, Any]) -> str:
        (event_id,) = await self.append_many(tenant_id, run_id, [(event, encode(data))])
        return event_id

    async def append_many(self, tenant_id: UUID, run_id: UUID, events: Sequence[tuple[str, str]]) -> list[str]:
        """Append (event, encoded data) pairs in order, in one round trip; their SSE ids."""
        key = self.key(tenant_id, run_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for event, data in events:
                pipe.xadd(key, {"e": event, "d": data})
            pipe.expire(key, self._ttl)
            *entries, _ = await pipe.execute()
        return [f"{run_id}:{e.decode() if isinstance(e, bytes) else e}" for e in entries]

    def writer(self, tenant_id: UUID, run_id: UUID) -> RunEventWriter:
        return RunEventWriter(self, tenant_id, run_id)

    async def read(
        self, tenant_id: UUID, run_id: UUID, after: str = "0-0", block_ms: int | None = None, count: int = 500
    ) -> list[RunEvent]:
        key = self.key(tenant_id, run_id)
        resp: Any = await self._redis.xread({key: after}, count=count, block=block_ms)
        out: list[RunEvent] = []
        for _key, entries in resp or []:
            for entry_id, fields in entries:
                eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                event = fields.get(b"e", fields.get("e"))
                data = fields.get(b"d", fields.get("d"))
                out.append(
                    RunEvent(
                        f"{run_id}:{eid}",
                        event.decode() if isinstance(event, bytes) else str(event),
                        json.loads(data),
                    )
                )
        return out

    async def exists(self, tenant_id: UUID, run_id: UUID) -> bool:
        return bool(await self._redis.exists(self.key(tenant_id, run_id)))


def encode(data: dict[str, Any]) -> str:
    return json.dumps(data, default=str)


class RunEventWriter:
    """Ordered write-behind of one run's events (see the module docstring).

    ``emit`` never waits for Redis; a failed write is raised by the next ``emit`` or by
    ``flush`` (the run then fails as it did when each event was awaited), and the events
    after it are not written (the stream never has a hole).
    """

    def __init__(self, buffer: RunEventBuffer, tenant_id: UUID, run_id: UUID):
        self._buffer = buffer
        self._tenant_id = tenant_id
        self._run_id = run_id
        self._pending: list[tuple[str, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.last_id: str | None = None  # SSE id of the last event written

    def emit(self, event: str, data: dict[str, Any]) -> None:
        if self._error is not None:
            raise self._error
        self._pending.append((event, encode(data)))  # encoded now: the data may change later
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending and self._error is None:
            batch, self._pending = self._pending, []
            try:
                self.last_id = (await self._buffer.append_many(self._tenant_id, self._run_id, batch))[-1]
            except Exception as exc:  # noqa: BLE001 — raised in the run by the next emit/flush
                self._error = exc

    async def flush(self) -> None:
        """Wait until every emitted event is in Redis (raises a failed write)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._error is not None:
            raise self._error


__all__ = ["RunEvent", "RunEventBuffer", "RunEventWriter", "parse_event_id"]
