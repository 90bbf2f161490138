"""Run events, buffered in a Redis stream per (tenant, run) with a TTL.

The agent appends; any gateway replica tails. An SSE event id is ``{run_id}:{entry_id}``
(the stream entry id), so ``Last-Event-ID`` says both which run and where in it a client
was: resuming reads the stream after that entry, on whichever replica it lands.
"""

from __future__ import annotations

import json
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
        key = self.key(tenant_id, run_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": event, "d": json.dumps(data, default=str)})
            pipe.expire(key, self._ttl)
            entry, _ = await pipe.execute()
        entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
        return f"{run_id}:{entry_id}"

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


__all__ = ["RunEvent", "RunEventBuffer", "parse_event_id"]
