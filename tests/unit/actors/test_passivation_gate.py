"""Passivation and calls are exclusive: an idle actor closes only with no call in flight, and
a call that arrives while it closes is refused (and retried by the gateway on the next
incarnation) instead of running against a closed pool."""

from __future__ import annotations

import asyncio

import pytest

from actors.runtime import ActorPassivating, PassivationGate


async def test_a_call_in_flight_keeps_the_actor_open_and_closing_refuses_new_calls() -> None:
    gate = PassivationGate()
    entered, release = asyncio.Event(), asyncio.Event()

    async def call() -> str:
        with gate.enter():
            entered.set()
            await release.wait()
            return "done"

    task = asyncio.create_task(call())
    await entered.wait()
    assert gate.in_flight == 1
    assert gate.try_close(idle=True) is False  # idle by the clock, but a call is running
    release.set()
    assert await task == "done"
    assert gate.in_flight == 0
    assert gate.try_close(idle=False) is False  # the call started a run: not idle
    assert gate.try_close(idle=True) is True
    with pytest.raises(ActorPassivating), gate.enter():
        pass  # nothing of a refused call runs
    assert gate.in_flight == 0
    assert gate.try_close(idle=False) is True  # closing is for good


async def test_a_failed_call_leaves_the_count_right() -> None:
    gate = PassivationGate()
    with pytest.raises(RuntimeError), gate.enter():
        raise RuntimeError("tool failed")
    assert gate.in_flight == 0 and gate.try_close(idle=True)
