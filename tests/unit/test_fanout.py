"""serve.fanout.bounded_round: the per-tenant rounds keep a bounded number of tasks alive."""

from __future__ import annotations

import asyncio

import pytest

from serve.fanout import bounded_round


async def test_at_most_limit_run_at_once_and_results_keep_their_order() -> None:
    running = peak = 0
    started: list[int] = []

    async def start(i: int) -> int:
        nonlocal running, peak
        started.append(i)
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01 * (i % 3))
        running -= 1
        if i == 7:
            raise RuntimeError("tenant 7 failed")
        return i * 10

    results = await bounded_round(list(range(20)), start, limit=3)
    assert peak == 3
    assert sorted(started) == list(range(20))
    assert [r for r in results if not isinstance(r, BaseException)] == [i * 10 for i in range(20) if i != 7]
    assert isinstance(results[7], RuntimeError) and str(results[7]) == "tenant 7 failed"


async def test_nothing_is_submitted_before_a_slot_is_free() -> None:
    gate = asyncio.Event()
    submitted: list[int] = []

    async def start(i: int) -> int:
        submitted.append(i)
        await gate.wait()
        return i

    round_ = asyncio.create_task(bounded_round([1, 2, 3, 4], start, limit=2))
    await asyncio.sleep(0.05)
    assert submitted == [1, 2]
    gate.set()
    assert await round_ == [1, 2, 3, 4]


async def test_an_empty_round_and_a_bad_limit() -> None:
    async def start(i: int) -> int:
        return i

    assert await bounded_round([], start, limit=1) == []
    with pytest.raises(ValueError, match="at least 1"):
        await bounded_round([1], start, limit=0)
