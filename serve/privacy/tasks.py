"""The Ray task of an LGPD request (like ``serve.knowledge_tasks``' ingestion tasks).

Nothing crosses the process boundary but ids: the task builds its own pool, Redis client
and ingestor (embedding through the ``Embedder`` deployment, for re-embedding masked
documents) and runs ``tools.privacy.run_request``. ``max_retries`` covers the worker dying;
the request's claim and saved footprint make the retry continue where it stopped.
"""

from __future__ import annotations

from uuid import UUID

import ray
import redis.asyncio as redis

from core.settings import Settings
from core.tenancy import TenantId
from knowledge.ingest import Ingestor
from tools.privacy import PrivacyDeps, run_request, subject_hash_key

from ..knowledge_tasks import _run, _with_ingestor


async def _process(ingestor: Ingestor, tenant_id: TenantId, request_id: UUID) -> str:
    settings = Settings()
    client = redis.from_url(settings.require_redis_url(), socket_timeout=10, socket_connect_timeout=5)
    try:
        deps = PrivacyDeps(
            pool=ingestor.pool,
            redis=client,
            hash_key=subject_hash_key(settings),
            events_stream=settings.events_stream,
            ingestor=ingestor,
        )
        return await run_request(deps, tenant_id, request_id)
    finally:
        await client.aclose()


@ray.remote(num_cpus=0.5, max_retries=2)
def privacy_request_task(tenant_id: str, request_id: str) -> str:
    """Queued request → done | failed (its result in ``privacy_requests``)."""
    tenant, rid = TenantId(UUID(tenant_id)), UUID(request_id)
    status: str = _run(_with_ingestor(lambda ing: _process(ing, tenant, rid)))
    return status


def submit_request(tenant_id: TenantId, request_id: UUID) -> None:
    """Fire and forget: progress and result land in ``privacy_requests``."""
    privacy_request_task.remote(str(tenant_id), str(request_id))


__all__ = ["privacy_request_task", "submit_request"]
