"""``db.bus.wait_event``: the bounded wait the relay and the inbox scheduler loop on."""

from __future__ import annotations

import asyncio

from db.bus import wait_event


async def _stop_as_woken(wait: object) -> bool:
    """A loop like the relay's, woken in the iteration where it is cancelled; True if it stopped."""
    wake = asyncio.Event()

    async def loop() -> None:
        while True:
            wake.clear()
            await wait(wake)  # type: ignore[operator]

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    wake.set()
    await asyncio.sleep(0)  # the inner wait completes ...
    task.cancel()  # ... and the cancellation lands in the same iteration
    done, _ = await asyncio.wait({task}, timeout=1.0)
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)
    return bool(done)


async def test_wait_event_keeps_a_cancellation_that_races_the_event() -> None:
    assert await _stop_as_woken(lambda e: wait_event(e, 0.5))


async def test_the_race_is_real_with_wait_for_on_this_python() -> None:
    """Why ``wait_event`` exists: ``asyncio.wait_for`` drops that cancellation on 3.11."""
    import contextlib
    import sys

    async def with_wait_for(e: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(e.wait(), timeout=0.5)

    stopped = await _stop_as_woken(with_wait_for)
    if sys.version_info < (3, 12):
        assert not stopped


async def test_wait_event_says_whether_the_event_was_set() -> None:
    e = asyncio.Event()
    assert await wait_event(e, 0.01) is False
    e.set()
    assert await wait_event(e, 0.01) is True
