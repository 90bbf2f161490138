"""Batch reindex: re-chunk and re-embed a tenant's documents (all, one space or one doc).

The same code serves ``POST /rag/build`` (a Ray task, or an asyncio task in plain-uvicorn
mode) and the batch job::

    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 \\
        --runtime-env .tridium/ray-job-env.yaml -- \\
        python -m knowledge.reindex --tenant demo [--space ID] [--doc ID] [--prune-models]

(``tridium up`` writes that runtime environment: the platform's settings, DATABASE_URL
included, and a PATH whose ``python`` is the platform's virtualenv.)

Documents are rebuilt from their stored (masked) text and sections, so neither the
original files nor OCR are needed; unchanged chunks keep their vectors (content hash), and
a new embedding model writes its rows beside the old ones (search keeps working on the
old model until the searcher switches; ``--prune-models`` drops the other models' rows).
Progress is the ``rag_jobs`` row: ``GET /rag/jobs/{id}`` or this command's output.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from uuid import UUID

import asyncpg

from core.tenancy import TenantId
from db.pool import tenant_tx
from knowledge import store
from knowledge.embedding import Embedder
from knowledge.ingest import Ingestor

log = logging.getLogger("tridium.knowledge.reindex")


async def run_job(
    ingestor: Ingestor, tenant_id: TenantId, job_id: UUID, *, prune_models: bool = False
) -> dict[str, object]:
    """Process one ``rag_jobs`` row to ``done`` (or ``failed`` with the first error)."""
    pool = ingestor.pool
    async with tenant_tx(pool, tenant_id) as conn:
        job = await store.get_job(conn, tenant_id, job_id)
        if job["status"] in ("done", "running"):
            return job
        if job["doc_id"] is not None:
            docs = [UUID(str(job["doc_id"]))]
        else:
            docs = await store.doc_ids(conn, tenant_id, job["space_id"])
        await store.update_job(conn, tenant_id, job_id, status="running", docs_total=len(docs), docs_done=0)
    chunks = 0
    failures: list[str] = []
    for i, doc_id in enumerate(docs, 1):
        try:
            chunks += await ingestor.reindex_doc(tenant_id, doc_id, prune_models=prune_models)
        except Exception as exc:  # noqa: BLE001 - one bad document must not stop the job; recorded below
            log.warning("reindex of %s failed: %s", doc_id, exc)
            failures.append(f"{doc_id}: {getattr(exc, 'message', None) or exc}"[:300])
        async with tenant_tx(pool, tenant_id) as conn:
            await store.update_job(conn, tenant_id, job_id, docs_done=i, chunks_done=chunks)
    async with tenant_tx(pool, tenant_id) as conn:
        if failures:
            await store.update_job(
                conn, tenant_id, job_id, status="failed", error=f"{len(failures)} document(s) failed; " + failures[0]
            )
        else:
            await store.update_job(conn, tenant_id, job_id, status="done")
        return await store.get_job(conn, tenant_id, job_id)


async def _resolve_tenant(pool: asyncpg.Pool, ref: str) -> TenantId:
    row = await pool.fetchrow("select id from tenants where slug = $1 or id::text = $1", ref)
    if row is None:
        raise SystemExit(f"unknown tenant {ref!r}")
    return TenantId(UUID(str(row["id"])))


async def _main(args: argparse.Namespace) -> int:
    from core.settings import Settings
    from db.pool import create_pool
    from knowledge.factory import make_ingestor

    settings = Settings()
    if settings.database_url is None:
        raise SystemExit(
            "DATABASE_URL is not set. Under `ray job submit`, pass the platform's settings with "
            "--runtime-env .tridium/ray-job-env.yaml (written by `tridium up`) or "
            '--runtime-env-json \'{"env_vars": {"DATABASE_URL": "…"}}\'.'
        )
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=3)
    try:
        tenant_id = await _resolve_tenant(pool, args.tenant)
        embedder = await _embedder(settings)
        ingestor = make_ingestor(settings, pool, embedder, _NoBlobs())
        async with tenant_tx(pool, tenant_id) as conn:
            job = await store.create_job(
                conn,
                tenant_id,
                space_id=UUID(args.space) if args.space else None,
                doc_id=UUID(args.doc) if args.doc else None,
                model=embedder.model_name,
            )
        print(f"job {job['id']}: reindexing tenant {args.tenant} with {embedder.model_name}", flush=True)
        watcher = asyncio.create_task(_report(pool, tenant_id, UUID(str(job["id"]))))
        result = await run_job(ingestor, tenant_id, UUID(str(job["id"])), prune_models=args.prune_models)
        watcher.cancel()
        print(
            f"job {result['id']}: {result['status']} — {result['docs_done']}/{result['docs_total']} documents, "
            f"{result['chunks_done']} chunks{'; ' + str(result['error']) if result['error'] else ''}",
            flush=True,
        )
        return 0 if result["status"] == "done" else 1
    finally:
        await pool.close()


async def _embedder(settings: object) -> Embedder:
    """The Embedder deployment when a Serve app is running (a submitted Ray job), else local."""
    from core.settings import Settings
    from knowledge.factory import make_embedder

    assert isinstance(settings, Settings)
    address = os.environ.get("RAY_ADDRESS") or settings.ray_address  # `ray job submit` sets RAY_ADDRESS
    if not address:
        return make_embedder(settings)
    try:
        import ray
        from ray import serve

        if not ray.is_initialized():
            ray.init(address=address, namespace="tridium", logging_level=logging.WARNING, log_to_driver=False)
        from knowledge.remote import ServeEmbedder

        handle = serve.get_deployment_handle("Embedder", app_name="tridium")
        return await ServeEmbedder(handle).load()
    except Exception as exc:  # noqa: BLE001 - no cluster or no app: embed in this process
        log.info("no Embedder deployment reachable (%s); embedding in-process", exc)
        return make_embedder(settings)


class _NoBlobs:
    """Reindex never reads the original files."""

    bucket = ""

    async def put_file(self, path: str, source: object, *, content_type: str) -> None:
        raise NotImplementedError

    async def get(self, path: str) -> bytes:
        raise NotImplementedError

    async def delete(self, path: str) -> None:
        raise NotImplementedError


async def _report(pool: asyncpg.Pool, tenant_id: TenantId, job_id: UUID) -> None:
    last = None
    while True:
        await asyncio.sleep(2)
        async with tenant_tx(pool, tenant_id) as conn:
            job = await store.get_job(conn, tenant_id, job_id)
        now = (job["docs_done"], job["docs_total"], job["chunks_done"])
        if now != last:
            print(f"  {job['docs_done']}/{job['docs_total']} documents, {job['chunks_done']} chunks", flush=True)
            last = now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge.reindex", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="tenant slug or id")
    parser.add_argument("--space", help="only this space (uuid)")
    parser.add_argument("--doc", help="only this document (uuid)")
    parser.add_argument("--prune-models", action="store_true", help="drop vectors of other embedding models")
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
