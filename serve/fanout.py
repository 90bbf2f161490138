"""Per-tenant background rounds on Ray, a bounded number of tasks at a time.

The scheduled rounds (payments drift repair, ads insights sync) run one Ray task per
tenant. Those tasks reserve no CPU (they wait on Postgres and provider APIs), so Ray would
run every one of them at once, each in its own worker process: a few hundred tenants meant
a few hundred Python processes starting together, which exhausted a small machine's memory
and starved everything else on it. ``bounded_round`` submits at most ``limit`` tasks and
starts the next one as each finishes (``TRIDIUM_TENANT_TASK_CONCURRENCY``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded_round(items: Sequence[T], start: Callable[[T], Awaitable[R]], limit: int) -> list[R | BaseException]:
    """``start(item)`` for every item, at most ``limit`` awaiting at once; the results (or the
    exception each raised) in the order of ``items``. ``start`` submits the task (for a Ray
    task: ``lambda t: task.remote(t)``), so nothing is submitted before a slot is free."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    slots = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with slots:
            return await start(item)

    return await asyncio.gather(*(one(item) for item in items), return_exceptions=True)


__all__ = ["bounded_round"]
