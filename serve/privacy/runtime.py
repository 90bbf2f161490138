"""Dispatch of a privacy request after its row commits.

* Ray initialised (the gateway under Serve): ``serve.privacy.tasks.privacy_request_task``,
  one Ray task per request, retried by Ray if its worker dies; the claim in
  ``privacy_requests`` makes a second run a no-op.
* Otherwise: an asyncio task in this process, with the process's pool and Redis client and
  the knowledge runtime's ingestor (to re-embed masked documents).

A gateway that dies between commit and dispatch leaves the request ``queued``; the
replay of the same ``Idempotency-Key`` (and a ``GET`` of a request queued for longer than
``REDISPATCH_AFTER_S``) dispatches it again.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any
from uuid import UUID

from fastapi import Request

from core.tenancy import TenantId
from tools.privacy import PrivacyDeps, run_request, subject_hash_key

from ..knowledge_runtime import LocalKnowledge, knowledge_of
from ..state import AppState

log = logging.getLogger("tridium.privacy")
REDISPATCH_AFTER_S = 60.0
_background: set[asyncio.Task[Any]] = set()


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


async def _run_local(deps: PrivacyDeps, tenant_id: TenantId, request_id: UUID) -> None:
    try:
        await run_request(deps, tenant_id, request_id)
    except Exception:
        log.exception("in-process privacy request %s failed", request_id)  # recorded on the request


def dispatch_request(request: Request, state: AppState, tenant_id: TenantId, request_id: UUID) -> None:
    if _ray_running():
        from .tasks import submit_request

        submit_request(tenant_id, request_id)
        return
    kb = knowledge_of(request, state)
    deps = PrivacyDeps(
        pool=state.pool,
        redis=state.redis,
        hash_key=subject_hash_key(state.settings),
        events_stream=state.settings.events_stream,
        ingestor=kb.ingestor if isinstance(kb, LocalKnowledge) else None,
    )
    task = asyncio.create_task(_run_local(deps, tenant_id, request_id))
    _background.add(task)
    task.add_done_callback(_background.discard)


__all__ = ["REDISPATCH_AFTER_S", "dispatch_request"]
