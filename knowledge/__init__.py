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

from knowledge.chunking import Chunk, ChunkingPolicy, chunk_document
from knowledge.embedding import Embedder, LocalSentenceTransformer, OpenAICompatibleEmbedder
from knowledge.errors import EmbeddingFailed, ParseFailed
from knowledge.parsing import ParsedDocument, ParseOptions, Section, parse_document
from knowledge.pii import PiiEvaluation, PiiKind, PiiMatch, evaluate_pii, find_pii, mask_document, mask_pii
from knowledge.sandbox_parse import SandboxLimits, parse_in_sandbox
from knowledge.sniff import DocKind, SniffResult, sniff_bytes
from knowledge.tokenizer import HFTokenizer, TokenCounter

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
