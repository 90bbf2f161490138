"""Embedders: the local model for real, the OpenAI-compatible one against a real HTTP server."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from knowledge import (
    Embedder,
    EmbeddingFailed,
    HFTokenizer,
    LocalSentenceTransformer,
    OpenAICompatibleEmbedder,
    ParsedDocument,
    chunk_document,
)

API_KEY = "sk-test-do-not-leak-0123456789"


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def local_model() -> LocalSentenceTransformer:
    return LocalSentenceTransformer()


@pytest.mark.asyncio
async def test_local_model_gives_unit_384d_vectors(local_model: LocalSentenceTransformer) -> None:
    assert isinstance(local_model, Embedder)
    assert (local_model.dim, local_model.max_tokens) == (384, 256)
    assert local_model.device in ("cpu", "cuda")
    vectors = await local_model.embed(["Quanto custa o plano Livre?", "Horário da unidade Pinheiros"])
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == 384
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-4)
    assert await local_model.embed([]) == []


@pytest.mark.asyncio
async def test_local_model_ranks_the_relevant_chunk_first(
    local_model: LocalSentenceTransformer, parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer
) -> None:
    chunks = chunk_document(parsed["faq.html"], tokenizer)
    vectors = await local_model.embed([c.embed_text for c in chunks])
    (query,) = await local_model.embed(["What forms of payment are accepted: credit card, Pix, boleto?"])
    best = max(range(len(chunks)), key=lambda i: _cosine(query, vectors[i]))
    assert "Quais são as formas de pagamento?" in chunks[best].heading_path


def test_chunk_counts_match_the_model_tokenizer(
    local_model: LocalSentenceTransformer, parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer
) -> None:
    """The chunker's tokenizer is the model's: nothing the chunker emits gets truncated."""
    model_tokenizer = local_model._model.tokenizer
    for chunk in chunk_document(parsed["manual-operacoes-unidades.md"], tokenizer):
        ids = model_tokenizer(chunk.embed_text, add_special_tokens=True)["input_ids"]
        assert len(ids) == chunk.token_count + 2
        assert len(ids) <= local_model.max_tokens


# --- OpenAI-compatible embedder against a local server -----------------------------------


@dataclass
class _Provider:
    """State of the fake provider: what it saw and how it should answer next."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    mode: str = "ok"
    dim: int = 8


def _vector(text: str, dim: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b - 128.0 for b in digest[:dim]]  # deterministic, deliberately not unit length


def _handler(provider: _Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            # The client may have given up first (the timeout test): that is the point.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(raw)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            provider.requests.append(body)
            provider.headers.append(dict(self.headers))
            if self.path != "/v1/embeddings":
                self._send(404, {"error": {"message": "not found"}})
            elif self.headers.get("Authorization") != f"Bearer {API_KEY}":
                self._send(401, {"error": {"message": "invalid api key"}})
            elif provider.mode == "rate_limited":
                self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"})
            elif provider.mode == "server_error":
                self._send(500, {"error": {"message": "boom"}})
            elif provider.mode == "too_long":
                self._send(400, {"error": {"message": "input exceeds the context length", "type": "invalid_request"}})
            elif provider.mode == "garbage":
                self._send(200, b"<html>gateway</html>")
            elif provider.mode == "slow":
                time.sleep(1.0)
                self._send(200, {"data": []})
            else:
                texts = body["input"]
                dim = provider.dim if provider.mode != "wrong_dim" else provider.dim + 1
                data = [{"object": "embedding", "index": i, "embedding": _vector(t, dim)} for i, t in enumerate(texts)]
                if provider.mode == "missing_one":
                    data = data[:-1]
                data.reverse()  # providers may answer out of order; the index field decides
                self._send(200, {"object": "list", "model": body["model"], "data": data, "usage": {}})

    return Handler


@pytest.fixture
def provider() -> Iterator[tuple[_Provider, str]]:
    state = _Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _embedder(client: httpx.AsyncClient, base_url: str, **kwargs: Any) -> OpenAICompatibleEmbedder:
    settings: dict[str, Any] = {"model": "fake-embed", "api_key": SecretStr(API_KEY), "dim": 8, "batch_size": 2}
    settings.update(kwargs)
    return OpenAICompatibleEmbedder(client, base_url=base_url, **settings)


@pytest.mark.asyncio
async def test_openai_compatible_embedder_batches_orders_and_normalizes(provider: tuple[_Provider, str]) -> None:
    state, base_url = provider
    texts = ["um", "dois", "três", "quatro", "cinco"]
    async with httpx.AsyncClient() as client:
        embedder = _embedder(client, base_url)
        assert isinstance(embedder, Embedder)
        vectors = await embedder.embed(texts)
    assert [r["input"] for r in state.requests] == [["um", "dois"], ["três", "quatro"], ["cinco"]]
    assert all(r["model"] == "fake-embed" for r in state.requests)
    assert state.headers[0]["Authorization"] == f"Bearer {API_KEY}"
    for text, vector in zip(texts, vectors, strict=True):
        raw = _vector(text, 8)
        norm = math.sqrt(sum(x * x for x in raw))
        assert vector == pytest.approx([x / norm for x in raw])


@pytest.mark.asyncio
async def test_dimension_is_learned_from_the_first_response(provider: tuple[_Provider, str]) -> None:
    _, base_url = provider
    async with httpx.AsyncClient() as client:
        embedder = _embedder(client, base_url, dim=None)
        with pytest.raises(EmbeddingFailed):
            _ = embedder.dim
        await embedder.embed(["olá"])
        assert embedder.dim == 8


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "reason", "provider_status"),
    [
        ("rate_limited", "rate_limited", 429),
        ("server_error", "provider_error", 500),
        ("too_long", "rejected", 400),
        ("garbage", "bad_response", None),
        ("missing_one", "bad_response", None),
        ("wrong_dim", "bad_response", None),
    ],
)
async def test_provider_failures_are_mapped(
    provider: tuple[_Provider, str], mode: str, reason: str, provider_status: int | None
) -> None:
    state, base_url = provider
    state.mode = mode
    async with httpx.AsyncClient() as client:
        with pytest.raises(EmbeddingFailed) as info:
            await _embedder(client, base_url).embed(["a", "b"])
    error = info.value
    assert (error.status, error.code) == (503, "embedding_failed")
    assert error.details["reason"] == reason
    assert error.details.get("provider_status") == provider_status
    if mode == "rate_limited":
        assert error.headers == {"Retry-After": "7"}
    if mode == "too_long":
        assert "context length" in error.message


@pytest.mark.asyncio
async def test_bad_credentials_do_not_leak_the_key(provider: tuple[_Provider, str]) -> None:
    _, base_url = provider
    async with httpx.AsyncClient() as client:
        with pytest.raises(EmbeddingFailed) as info:
            await _embedder(client, base_url, api_key=SecretStr("sk-wrong-key-123")).embed(["a"])
    assert info.value.details["reason"] == "auth"
    assert "sk-wrong" not in str(info.value) + json.dumps(info.value.details)


@pytest.mark.asyncio
async def test_timeouts_and_refused_connections_are_mapped(provider: tuple[_Provider, str]) -> None:
    state, base_url = provider
    state.mode = "slow"
    async with httpx.AsyncClient() as client:
        with pytest.raises(EmbeddingFailed) as info:
            await _embedder(client, base_url, timeout_s=0.2).embed(["a"])
        assert info.value.details["reason"] == "timeout"

        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        with pytest.raises(EmbeddingFailed) as info:
            await _embedder(client, f"http://127.0.0.1:{closed_port}/v1").embed(["a"])
        assert info.value.details["reason"] == "connection"


# Lanes: single-threaded encode lanes over one copy of the model (what the Embedder runs on CPU).


class _RecordingLanes(LocalSentenceTransformer):
    """Records which thread ran each group (the lanes' own code is not replaced)."""

    def __init__(self) -> None:
        super().__init__(lanes=2, group_size=2)
        self.threads: list[str] = []

    def _encode_group(self, texts: list[str]) -> list[list[float]]:
        self.threads.append(threading.current_thread().name)
        return super()._encode_group(texts)


@pytest.fixture(scope="module")
def lanes_model() -> Iterator[_RecordingLanes]:
    model = _RecordingLanes()
    yield model
    model.close()


def _lane_texts(parsed: dict[str, ParsedDocument], tokenizer: HFTokenizer) -> list[str]:
    texts = [c.embed_text for name in ("faq.html", "politicas.txt") for c in chunk_document(parsed[name], tokenizer)]
    return [*texts[:14], "Oi", "Quanto custa o plano Livre?"]  # very short ones too: padding in a group


async def test_lanes_give_the_vectors_of_one_encode_in_order(
    local_model: LocalSentenceTransformer,
    lanes_model: _RecordingLanes,
    parsed: dict[str, ParsedDocument],
    tokenizer: HFTokenizer,
) -> None:
    texts = _lane_texts(parsed, tokenizer)
    assert lanes_model.lanes == 2 and local_model.lanes == 1
    reference = await local_model.embed(texts)
    lanes_model.threads.clear()
    got = await lanes_model.embed(texts)
    assert len(got) == len(texts)
    for want, have in zip(reference, got, strict=True):
        assert max(abs(a - b) for a, b in zip(want, have, strict=True)) < 1e-5
    # One call is cut into length-sorted groups that both lanes take.
    assert len(lanes_model.threads) == len(lanes_model.groups(texts)) == 8
    assert len(set(lanes_model.threads)) == 2, lanes_model.threads
    lengths = [[len(texts[i]) for i in g] for g in lanes_model.groups(texts)]
    assert all(max(g) <= min(prev) for prev, g in itertools.pairwise(lengths)), lengths


async def test_concurrent_calls_on_the_lanes_each_get_their_own_vectors(
    local_model: LocalSentenceTransformer,
    lanes_model: _RecordingLanes,
    parsed: dict[str, ParsedDocument],
    tokenizer: HFTokenizer,
) -> None:
    import asyncio

    texts = _lane_texts(parsed, tokenizer)
    reference = dict(zip(texts, await local_model.embed(texts), strict=True))
    parts = [texts[0::3], texts[1::3], texts[2::3], texts[:1]]
    results = await asyncio.gather(*(lanes_model.embed(p) for p in parts))
    for part, vectors in zip(parts, results, strict=True):
        assert len(vectors) == len(part)
        for text, vector in zip(part, vectors, strict=True):
            assert max(abs(a - b) for a, b in zip(reference[text], vector, strict=True)) < 1e-5
    assert await lanes_model.embed([]) == []
