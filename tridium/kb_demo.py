"""Knowledge base at start-up: the ANN index for the configured model, and the demo data.

``ensure_indexes`` runs as the owner (the app role cannot create indexes) and creates the
HNSW index of the configured embedding model if it is missing (see knowledge.index_policy).

``start_loading`` uploads ``shared/data/kb-demo/docs`` into the demo tenant through the
HTTP API, in a background thread so ``tridium up`` is not slowed: the same path as a user's
``curl`` (storage, kb_uploads, Ray ingestion task). It is idempotent: files already
uploaded to the ``kb-demo`` space (by name) are skipped. Watch it with ``GET /rag/uploads``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

import asyncpg
import httpx

from core.settings import Settings
from knowledge.factory import hnsw_params, uses_remote_embeddings
from knowledge.index_policy import ensure_hnsw
from knowledge.tokenizer import DEFAULT_MODEL_NAME

log = logging.getLogger("tridium.kb_demo")

DEMO_SPACE = "kb-demo"
LOCAL_DIM = 384  # all-MiniLM-L6-v2


def demo_dir(settings: Settings) -> Path | None:
    if settings.kb_demo_dir is not None:
        return settings.kb_demo_dir if settings.kb_demo_dir.is_dir() else None
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base.parent / "shared" / "data" / "kb-demo"
        if (candidate / "docs").is_dir():
            return candidate
    return None


async def ensure_indexes(settings: Settings, owner_url: str | None) -> None:
    if owner_url is None:
        return
    if uses_remote_embeddings(settings):
        if settings.embed_dim is None or settings.embed_model is None:
            log.warning(
                "TRIDIUM_EMBED_DIM is unset: no HNSW index for %s until `tridium kb index`", settings.embed_model
            )
            return
        model, dim = settings.embed_model, settings.embed_dim
    else:
        model, dim = DEFAULT_MODEL_NAME, LOCAL_DIM
    conn = await asyncpg.connect(owner_url)
    try:
        if await ensure_hnsw(conn, model, dim, hnsw_params(settings)):
            log.info("created the HNSW index for %s (%d-d)", model, dim)
    finally:
        await conn.close()


def load_demo(base_url: str, token: str, slug: str, folder: Path) -> list[str]:
    """Upload the demo documents that are not there yet; returns the upload ids."""
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-Id": slug}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        spaces = client.get("/rag/spaces").raise_for_status().json()
        space = next((s for s in spaces if s["name"] == DEMO_SPACE), None)
        if space is None:
            space = client.post("/rag/spaces", json={"name": DEMO_SPACE}).raise_for_status().json()
        done = {u["filename"] for u in client.get("/rag/uploads").raise_for_status().json() if u["status"] != "failed"}
        ids = []
        for path in sorted((folder / "docs").iterdir()):
            if not path.is_file() or path.name in done:
                continue
            r = client.post(
                "/rag/uploads",
                headers={"Idempotency-Key": f"kb-demo-{uuid.uuid4()}"},
                data={"space_id": space["id"]},
                files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
            )
            r.raise_for_status()
            ids.append(r.json()["uploadId"])
        return ids


def start_loading(base_url: str, token: str, slug: str, settings: Settings) -> threading.Thread | None:
    folder = demo_dir(settings)
    if not settings.kb_demo or folder is None:
        return None

    def run() -> None:
        try:
            ids = load_demo(base_url, token, slug, folder)
            if ids:
                print(f"  Knowledge  loading {len(ids)} kb-demo documents into '{slug}' (GET /rag/uploads)", flush=True)
        except httpx.HTTPError as exc:
            log.warning("could not load the kb-demo documents: %s", exc)

    thread = threading.Thread(target=run, name="kb-demo", daemon=True)
    thread.start()
    return thread


__all__ = ["DEMO_SPACE", "demo_dir", "ensure_indexes", "load_demo", "start_loading"]
