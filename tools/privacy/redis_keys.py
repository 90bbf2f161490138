"""Where a data subject can appear in Redis, for export and erase.

* Run event streams ``tridium:agents:run:{tenant}:{run}`` (``actors.events.RunEventBuffer``;
  the format is repeated here because tools sit below actors — a unit test pins them
  together): the deltas, tool calls and results of a run, kept for resumable SSE for a TTL.
  Erase deletes the streams of the subject's runs and every stream of the tenant whose
  entries mention the subject.
* The query-embedding cache ``kb:{tenant}:qemb:*`` (``knowledge.search``): keys are hashes
  of search queries, values vectors of them; a query may have been the subject's name.
  Erase drops the tenant's whole cache (it is an optimisation; it refills on use).
* The event streams ``{events_stream}`` and their dead-letter streams
  ``{events_stream}:dead:{group}`` (``db.bus``): copies of the outbox. Erase deletes
  (XDEL) the tenant's entries that mention the subject; the outbox row itself is masked
  in Postgres.

Rate-limit counters (``rl:*``) hold IP addresses and principals, not data subjects.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import redis.asyncio as redis

RUN_STREAM_PREFIX = "tridium:agents:run:"
_BATCH = 500


def run_stream_key(tenant_id: UUID, run_id: UUID | str) -> str:
    return f"{RUN_STREAM_PREFIX}{tenant_id}:{run_id}"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class RedisReport:
    run_streams: int = 0
    query_cache_keys: int = 0
    event_entries: int = 0
    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "run_streams": self.run_streams,
            "query_cache_keys": self.query_cache_keys,
            "event_entries": self.event_entries,
        }


async def _scan(client: redis.Redis, pattern: str, type_: str | None = None) -> AsyncIterator[str]:
    async for key in client.scan_iter(match=pattern, count=_BATCH, _type=type_):
        yield _text(key)


async def _entries(client: redis.Redis, key: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    start = "-"
    while True:
        batch: Any = await client.xrange(key, min=start, max="+", count=_BATCH)
        if not batch:
            return
        for entry_id, fields in batch:
            yield _text(entry_id), {_text(k): _text(v) for k, v in fields.items()}
        last = _text(batch[-1][0])
        ms, _, seq = last.partition("-")
        start = f"{ms}-{int(seq) + 1}"


async def sweep(
    client: redis.Redis,
    tenant_id: UUID,
    run_ids: list[str],
    needle: re.Pattern[str],
    events_stream: str,
    *,
    erase: bool,
) -> RedisReport:
    """Find (export) or remove (erase) what Redis holds about the subject in one tenant."""
    out = RedisReport()
    own_runs = {run_stream_key(tenant_id, r) for r in run_ids}
    async for key in _scan(client, f"{RUN_STREAM_PREFIX}{tenant_id}:*", "stream"):
        entries = [(eid, f) async for eid, f in _entries(client, key)]
        if key in own_runs or any(needle.search(" ".join(f.values())) for _, f in entries):
            out.found.setdefault("run_streams", []).append(
                {"key": key, "entries": [{"id": eid, **f} for eid, f in entries]}
            )
            if erase:
                out.run_streams += await client.delete(key)
    if erase:
        async for key in _scan(client, f"kb:{tenant_id}:qemb:*"):
            out.query_cache_keys += await client.unlink(key)
    tenant = str(tenant_id)
    async for key in _scan(client, f"{events_stream}*", "stream"):
        doomed: list[str] = []
        async for eid, fields in _entries(client, key):
            blob = " ".join(fields.values())
            if tenant in blob and needle.search(blob):
                doomed.append(eid)
                out.found.setdefault("event_streams", []).append({"key": key, "id": eid, **fields})
        if erase and doomed:
            for i in range(0, len(doomed), _BATCH):
                out.event_entries += await client.xdel(key, *doomed[i : i + _BATCH])
    return out


__all__ = ["RUN_STREAM_PREFIX", "RedisReport", "run_stream_key", "sweep"]
