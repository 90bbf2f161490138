"""Knowledge pipeline, the pure-library part: bytes → text → masked text → chunks → vectors.

::

    sniff_bytes(bytes)                -> SniffResult(kind, mime)      415 for anything else
    parse_in_sandbox(bytes)           -> ParsedDocument               (uploads: limited child process)
    parse_document(bytes)             -> ParsedDocument               (trusted input, tests)
    mask_document(doc)                -> ParsedDocument               ([CPF] [CNPJ] [TELEFONE] [EMAIL])
    chunk_document(doc, tokenizer)    -> list[Chunk]                  (token-sized, exact offsets)
    await embedder.embed(texts)       -> list[list[float]]            (unit vectors)

Errors are leaves of ``core.errors``: ``ParseFailed`` (422), ``UnsupportedMediaType`` (415),
``PayloadTooLarge`` (413), ``EmbeddingFailed`` (503). Nothing here talks to Ray, Postgres or
HTTP servers of our own; the ingestion task and the Serve deployments call these functions.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.chunking import Chunk, ChunkingPolicy, chunk_document
    from knowledge.embedding import Embedder, LocalSentenceTransformer, OpenAICompatibleEmbedder
    from knowledge.errors import EmbeddingFailed, ParseFailed
    from knowledge.parsing import ParsedDocument, ParseOptions, Section, parse_document
    from knowledge.pii import PiiEvaluation, PiiKind, PiiMatch, evaluate_pii, find_pii, mask_document, mask_pii
    from knowledge.sandbox_parse import SandboxLimits, parse_in_sandbox
    from knowledge.sniff import DocKind, SniffResult, sniff_bytes
    from knowledge.tokenizer import HFTokenizer, TokenCounter

# Names are imported on first use (PEP 562): an agent actor that needs only
# ``knowledge.search`` does not pay for the parsers, PII masking and chunking at start.
_HOME = {
    "Chunk": "chunking",
    "ChunkingPolicy": "chunking",
    "chunk_document": "chunking",
    "Embedder": "embedding",
    "LocalSentenceTransformer": "embedding",
    "OpenAICompatibleEmbedder": "embedding",
    "EmbeddingFailed": "errors",
    "ParseFailed": "errors",
    "ParsedDocument": "parsing",
    "ParseOptions": "parsing",
    "Section": "parsing",
    "parse_document": "parsing",
    "PiiEvaluation": "pii",
    "PiiKind": "pii",
    "PiiMatch": "pii",
    "evaluate_pii": "pii",
    "find_pii": "pii",
    "mask_document": "pii",
    "mask_pii": "pii",
    "SandboxLimits": "sandbox_parse",
    "parse_in_sandbox": "sandbox_parse",
    "DocKind": "sniff",
    "SniffResult": "sniff",
    "sniff_bytes": "sniff",
    "HFTokenizer": "tokenizer",
    "TokenCounter": "tokenizer",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"knowledge.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Chunk",
    "ChunkingPolicy",
    "DocKind",
    "Embedder",
    "EmbeddingFailed",
    "HFTokenizer",
    "LocalSentenceTransformer",
    "OpenAICompatibleEmbedder",
    "ParseFailed",
    "ParseOptions",
    "ParsedDocument",
    "PiiEvaluation",
    "PiiKind",
    "PiiMatch",
    "SandboxLimits",
    "Section",
    "SniffResult",
    "TokenCounter",
    "chunk_document",
    "evaluate_pii",
    "find_pii",
    "mask_document",
    "mask_pii",
    "parse_document",
    "parse_in_sandbox",
    "sniff_bytes",
]
