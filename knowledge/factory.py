"""Build the knowledge pipeline's parts from settings (called at entry points only)."""

from __future__ import annotations

import asyncpg
import httpx
import redis.asyncio as redis

from core.settings import Settings
from knowledge.blobs import BlobStore
from knowledge.embedding import Embedder, LocalSentenceTransformer, OpenAICompatibleEmbedder
from knowledge.index_policy import hnsw_params
from knowledge.ingest import Ingestor
from knowledge.pdf_ranges import PageRangeRunner, ThreadPageRanges
from knowledge.search import HybridSearcher
from knowledge.tokenizer import HFTokenizer


def uses_remote_embeddings(settings: Settings) -> bool:
    return bool(settings.embed_base_url and settings.embed_model)


def make_embedder(settings: Settings, client: httpx.AsyncClient | None = None) -> Embedder:
    """OpenAI-compatible embeddings when EMBED_BASE_URL and EMBED_MODEL are set, else the
    offline all-MiniLM-L6-v2 (CUDA when the machine has a GPU; on CPU ``embed_lanes``
    single-threaded lanes over one copy of the model)."""
    if uses_remote_embeddings(settings):
        if client is None:
            raise ValueError("remote embeddings need an httpx.AsyncClient owned by the caller")
        assert settings.embed_base_url is not None and settings.embed_model is not None
        return OpenAICompatibleEmbedder(
            client,
            base_url=settings.embed_base_url,
            model=settings.embed_model,
            api_key=settings.embed_api_key,
            dim=settings.embed_dim,
        )
    import torch

    torch.set_num_threads(max(1, settings.embed_threads))
    return LocalSentenceTransformer(
        lanes=settings.embed_lanes, threads_per_lane=settings.embed_threads, group_size=settings.embed_group
    )


def make_searcher(
    settings: Settings, pool: asyncpg.Pool, embedder: Embedder, cache: redis.Redis | None
) -> HybridSearcher:
    return HybridSearcher.from_settings(settings, pool, embedder, cache)


def make_ingestor(
    settings: Settings,
    pool: asyncpg.Pool,
    embedder: Embedder,
    blobs: BlobStore,
    *,
    page_ranges: PageRangeRunner | None = None,
) -> Ingestor:
    """``page_ranges``: who parses the page ranges of large PDFs (default: threads of this
    process; the Ray tasks pass Ray tasks)."""
    # Chunks are counted with MiniLM's tokenizer; for a remote model that is an estimate
    # (its own tokenizer is not available offline) and its window is far larger anyway.
    return Ingestor(
        pool,
        embedder,
        blobs,
        HFTokenizer.from_model_dir(),
        stale_s=settings.kb_sweep_grace_s * 10,
        max_attempts=settings.kb_max_attempts,
        pdf_range_pages=settings.kb_pdf_range_pages,
        page_ranges=page_ranges or ThreadPageRanges(),
    )


__all__ = ["hnsw_params", "make_embedder", "make_ingestor", "make_searcher", "uses_remote_embeddings"]
