"""The sweeper's dispatcher: a new upload is submitted at once; the sweep re-submits only
uploads with no task in flight (or stuck running), never a second task for one waiting."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import pytest

from core.tenancy import TenantId
from knowledge.dispatch import UploadDispatcher

TENANT = TenantId(uuid.uuid4())


class _Cluster:
    """Tasks as futures the test resolves: waiting for a CPU until the test says otherwise."""

    def __init__(self) -> None:
        self.submitted: list[UUID] = []
        self.tasks: list[asyncio.Future[str]] = []

    def submit(self, tenant_id: TenantId, upload_id: UUID) -> asyncio.Future[str]:
        assert tenant_id == TENANT
        self.submitted.append(upload_id)
        task: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.tasks.append(task)
        return task


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_waiting_task_is_not_submitted_again_and_a_finished_requeue_is() -> None:
    cluster = _Cluster()
    d = UploadDispatcher(cluster.submit)
    a, b = uuid.uuid4(), uuid.uuid4()
    assert d.dispatch(TENANT, a) is True
    assert d.dispatch(TENANT, a) is False  # an idempotent replay while the task waits
    # The sweep sees both queued past the grace period: a has a task waiting, b was lost.
    assert d.repair(TENANT, [(a, "queued"), (b, "queued")]) == [b]
    assert cluster.submitted == [a, b]
    # a's task ends with a transient failure (re-queued): the next sweep submits it again.
    cluster.tasks[0].set_result("queued")
    await _settle()
    assert not d.in_flight(a) and d.in_flight(b)
    assert d.repair(TENANT, [(a, "queued"), (b, "queued")]) == [a]
    assert cluster.submitted == [a, b, a]
    assert d.stats() | {"in_flight": 2} == {
        "in_flight": 2,
        "dispatched": 1,
        "already_in_flight": 1,
        "repaired": 2,
        "left_waiting": 2,
        "lost": 0,
    }
    await d.close()


async def test_a_lost_task_is_repaired_and_a_stuck_running_upload_always_is() -> None:
    cluster = _Cluster()
    d = UploadDispatcher(cluster.submit)
    a, b = uuid.uuid4(), uuid.uuid4()
    d.dispatch(TENANT, a)
    d.dispatch(TENANT, b)
    cluster.tasks[0].set_exception(RuntimeError("worker died (owner died)"))
    await _settle()
    assert not d.in_flight(a) and d.stats()["lost"] == 1
    # b runs but made no progress for 10x the grace: the safety net re-submits it anyway
    # (the claim lets only one of the two tasks run it).
    assert d.repair(TENANT, [(a, "queued"), (b, "embedding")]) == [a, b]
    # The old task of b ending does not forget the new one.
    cluster.tasks[1].set_result("embedded")
    await _settle()
    assert d.in_flight(b)
    await d.close()
    assert d.stats()["in_flight"] == 0


@pytest.mark.parametrize("status", ["embedded", "failed", "skipped"])
async def test_a_finished_task_leaves_nothing_in_flight(status: str) -> None:
    cluster = _Cluster()
    d = UploadDispatcher(cluster.submit)
    a = uuid.uuid4()
    d.dispatch(TENANT, a)
    cluster.tasks[0].set_result(status)
    await _settle()
    assert d.stats()["in_flight"] == 0 and d.dispatch(TENANT, a) is True
    await d.close()
