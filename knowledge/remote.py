"""An :class:`~knowledge.embedding.Embedder` that calls the ``Embedder`` Serve deployment.

Ingestion tasks and batch jobs embed through the deployment so that every caller shares
one model in memory and its dynamic batching (``@serve.batch``). The handle is passed in;
nothing here imports Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import DependencyUnavailable
from knowledge.errors import EmbeddingFailed


class ServeEmbedder:
    """``Embedder`` over a ``DeploymentHandle`` to ``serve.knowledge_deployments.Embedder``."""

    def __init__(self, handle: Any, info: dict[str, Any] | None = None) -> None:
        self._handle = handle
        self._info = info

    async def load(self) -> ServeEmbedder:
        """Fetch the model's name, dimension and window once (call before use)."""
        if self._info is None:
            try:
                self._info = dict(await self._handle.info.remote())
            except Exception as exc:
                raise DependencyUnavailable(
                    "the Embedder deployment is unavailable", details={"error": str(exc)}
                ) from exc
        return self

    def _require(self) -> dict[str, Any]:
        if self._info is None:
            raise RuntimeError("ServeEmbedder.load() was not awaited")
        return self._info

    @property
    def model_name(self) -> str:
        return str(self._require()["model"])

    @property
    def dim(self) -> int:
        return int(self._require()["dim"])

    @property
    def max_tokens(self) -> int:
        return int(self._require()["max_tokens"])

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            vectors: list[list[float]] = await self._handle.embed.remote(list(texts))
        except EmbeddingFailed:
            raise
        except Exception as exc:  # Ray wraps replica errors; all mean "the embedder failed us"
            raise EmbeddingFailed(
                "the Embedder deployment failed", details={"reason": "provider_error", "error": str(exc)[:300]}
            ) from exc
        return vectors


__all__ = ["ServeEmbedder"]
