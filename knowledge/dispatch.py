"""Which uploads have an ingestion task in flight: dispatch now, repair only what is lost.

The ``KnowledgeSweeper`` deployment owns one :class:`UploadDispatcher`. A new upload is
dispatched at once (the gateway calls the sweeper right after the upload's transaction
commits) and its task's result is awaited in the background, so the dispatcher knows, for
every upload, whether a task of its own is waiting for a CPU or running. The periodic
sweep hands it the uploads the database calls pending and it re-submits only:

* ``queued`` uploads with no task in flight: lost before or after submission (a gateway
  that died between commit and hand-over, a node lost, a previous sweeper's tasks, which
  die with it), or re-queued by a transient failure (the finished task said ``queued``);
* uploads stuck running (no progress for 10 times the grace), even with a task in flight: that
  is the safety net for a hung task, as before.

A queued upload whose task only waits for a CPU is left alone: before, the sweeper
re-submitted every upload still queued after the grace period, so a burst of uploads on a
busy cluster queued a second task per file (bench/ingest.py). A duplicate is never a
double run, though: the claim (``store.claim_upload``) is one conditional UPDATE, so a
second task for the same upload finds it taken and returns ``skipped``.

Plain asyncio, no Ray: ``submit`` returns an awaitable of the task's result (an ObjectRef
under Ray; a coroutine in the tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core.tenancy import TenantId

log = logging.getLogger("tridium.knowledge.dispatch")

SubmitFn = Callable[[TenantId, UUID], Awaitable[Any]]


@dataclass
class _Counts:
    dispatched: int = 0
    already_in_flight: int = 0
    repaired: int = 0
    left_waiting: int = 0
    lost: int = 0


class UploadDispatcher:
    def __init__(self, submit: SubmitFn) -> None:
        self._submit = submit
        self._in_flight: dict[UUID, asyncio.Task[Any]] = {}
        self._counts = _Counts()

    def in_flight(self, upload_id: UUID) -> bool:
        return upload_id in self._in_flight

    def dispatch(self, tenant_id: TenantId, upload_id: UUID) -> bool:
        """Submit a task for the upload unless one is already waiting or running."""
        if upload_id in self._in_flight:
            self._counts.already_in_flight += 1
            return False
        self._start(tenant_id, upload_id)
        self._counts.dispatched += 1
        return True

    def repair(self, tenant_id: TenantId, pending: Sequence[tuple[UUID, str]]) -> list[UUID]:
        """Re-submit the pending uploads (``(id, status)``) that need it; returns their ids."""
        repaired = []
        for upload_id, status in pending:
            if status == "queued" and upload_id in self._in_flight:
                self._counts.left_waiting += 1  # its task waits for a CPU: not lost
                continue
            self._start(tenant_id, upload_id)
            self._counts.repaired += 1
            repaired.append(upload_id)
        return repaired

    def _start(self, tenant_id: TenantId, upload_id: UUID) -> None:
        result = self._submit(tenant_id, upload_id)
        task = asyncio.ensure_future(self._watch(upload_id, result))
        self._in_flight[upload_id] = task

    async def _watch(self, upload_id: UUID, result: Awaitable[Any]) -> None:
        try:
            outcome = await result
            log.debug("upload %s: task ended %s", upload_id, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the task is gone; the next sweep repairs the upload
            self._counts.lost += 1
            log.warning("upload %s: its task was lost (%s); the sweep will re-submit it", upload_id, exc)
        finally:
            if self._in_flight.get(upload_id) is asyncio.current_task():
                del self._in_flight[upload_id]

    def stats(self) -> dict[str, int]:
        return {"in_flight": len(self._in_flight), **vars(self._counts)}

    async def close(self) -> None:
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight.clear()


__all__ = ["SubmitFn", "UploadDispatcher"]
