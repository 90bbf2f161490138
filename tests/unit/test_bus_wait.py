"""``db.bus.wait_event``: the bounded wait the relay and the inbox scheduler loop on."""

from __future__ import annotations

import asyncio
import contextlib

from db.bus import cancel_and_wait, raise_if_cancelled, wait_event


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


async def test_a_loop_that_checks_raise_if_cancelled_ends_after_a_swallowed_cancel() -> None:
    """A library that swallows the cancel (or turns it into a ``TimeoutError``, an ``OSError``
    that a retrying loop catches) leaves ``cancelling()`` set: the next iteration's check
    ends the loop; the same loop without it runs on."""

    async def swallowing_call() -> None:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            raise TimeoutError from None  # what a cancel looks like after asyncio.timeout on 3.11

    ended = asyncio.Event()

    async def loop(check: bool) -> None:
        while not ended.is_set():
            if check:
                raise_if_cancelled()
            try:
                await swallowing_call()
            except OSError:
                await asyncio.sleep(0.01)  # "cannot reach Redis; retrying"

    for check, stops in ((True, True), (False, False)):
        task = asyncio.create_task(loop(check))
        await asyncio.sleep(0.02)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert bool(done) is stops
        if not done:
            ended.set()  # the loop without the check only ends by its own condition
            await asyncio.wait({task}, timeout=0.5)
            assert task.done()


async def test_cancel_and_wait_names_what_did_not_stop_and_does_not_hang() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # swallowed
                await asyncio.sleep(0.05)

    quick = asyncio.create_task(asyncio.sleep(10), name="quick")
    stuck = asyncio.create_task(stubborn(), name="stuck")
    await asyncio.sleep(0)
    still = await cancel_and_wait([quick, stuck], 0.2, "test")
    assert still == {stuck} and quick.cancelled()
    release.set()
    stuck.cancel()
    await asyncio.wait({stuck}, timeout=2)
    assert await cancel_and_wait([], 0.1, "nothing") == set()


async def test_cancel_and_wait_logs_a_task_that_had_failed_instead_of_raising(caplog) -> None:  # type: ignore[no-untyped-def]
    async def broken() -> None:
        raise RuntimeError("redis went away")

    failed = asyncio.create_task(broken(), name="broken")
    await asyncio.wait({failed})
    with caplog.at_level("WARNING", logger="db.bus"):
        assert await cancel_and_wait([failed], 0.1, "test") == set()
    (record,) = [r for r in caplog.records if r.message == "task had failed before it was stopped"]
    assert record.__dict__["task"] == "broken" and "redis went away" in record.__dict__["error"]
