"""Consumer-group health of an event stream, for ``/metrics`` and the alert rules.

For each consumer group of the stream: how many entries are pending (delivered, not acked),
how old the oldest unfinished entry is (the oldest pending one, or the first one the group
has not read yet; stream ids carry their millisecond timestamp), and how many entries sit in
its dead-letter stream (``{stream}:dead:{group}``, written by ``StreamConsumer``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis


@dataclass(frozen=True, slots=True)
class GroupStats:
    stream: str
    group: str
    pending: int
    lag_s: float
    dead_letters: int


def _ms(entry_id: Any) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[0])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def stream_stats(client: redis.Redis, stream: str, now_ms: int | None = None) -> list[GroupStats]:
    """One ``GroupStats`` per consumer group; an absent stream has none."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if not await client.exists(stream):
        return []
    groups: Any = await client.xinfo_groups(stream)
    out: list[GroupStats] = []
    for info in groups:
        group = _text(info["name"])
        oldest: int | None = None
        summary: Any = await client.xpending(stream, group)
        pending = int(summary["pending"])
        if pending and summary.get("min"):
            oldest = _ms(summary["min"])
        unread: Any = await client.xrange(stream, min=f"({_text(info['last-delivered-id'])}", count=1)
        if unread:
            first = _ms(unread[0][0])
            oldest = first if oldest is None else min(oldest, first)
        lag_s = max(0.0, (now - oldest) / 1000) if oldest is not None else 0.0
        dead = int(await client.xlen(f"{stream}:dead:{group}"))
        out.append(GroupStats(stream, group, pending, lag_s, dead))
    return out


__all__ = ["GroupStats", "stream_stats"]
