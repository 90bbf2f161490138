"""Parsers: bytes in, one :class:`ParsedDocument` out (text + sections with offsets).

``parse_document`` runs in the calling process and is meant for trusted input and tests;
uploads go through :func:`knowledge.sandbox_parse.parse_in_sandbox`, which runs the same
function in a separate process with memory, CPU and wall-clock limits.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import PayloadTooLarge
from knowledge.parsing.model import ParsedDocument, ParseOptions, Section
from knowledge.sniff import DocKind, sniff_bytes

Parser = Callable[[bytes, ParseOptions], ParsedDocument]

MAX_INPUT_BYTES = 100 * 1024 * 1024


def _parser_for(kind: DocKind) -> Parser:
    # Imported lazily so that sniffing or parsing Markdown does not load PDFium or lxml.
    if kind is DocKind.PDF:
        from knowledge.parsing.pdf import parse_pdf

        return parse_pdf
    if kind is DocKind.DOCX:
        from knowledge.parsing.word import parse_docx

        return parse_docx
    if kind is DocKind.HTML:
        from knowledge.parsing.html import parse_html

        return parse_html
    from knowledge.parsing.text import parse_markdown, parse_text

    return parse_markdown if kind is DocKind.MARKDOWN else parse_text


def parse_document(
    data: bytes,
    *,
    filename: str | None = None,
    kind: DocKind | None = None,
    options: ParseOptions | None = None,
) -> ParsedDocument:
    """Sniff ``data`` (unless ``kind`` is given) and parse it in this process.

    Raises ``UnsupportedMediaType`` for formats we do not read, ``PayloadTooLarge`` past
    ``MAX_INPUT_BYTES`` and ``ParseFailed`` for files that claim a format but cannot be read.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise PayloadTooLarge(f"the file has {len(data)} bytes (limit {MAX_INPUT_BYTES})")
    if kind is None:
        kind = sniff_bytes(data, filename=filename).kind
    return _parser_for(kind)(data, options or ParseOptions())


__all__ = ["MAX_INPUT_BYTES", "ParseOptions", "ParsedDocument", "Section", "parse_document"]
