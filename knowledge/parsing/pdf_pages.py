"""Page ranges of a PDF and how they merge: pure data, no PDFium (safe to import anywhere).

A large PDF is read in page ranges, each in its own sandboxed child (possibly on another
node); :func:`pdf_document` joins the ranges into exactly the document one pass over the
whole file produces, because offsets are only computed here, over the pages in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from knowledge.errors import ParseFailed
from knowledge.parsing.model import Block, ParsedDocument, ParseOptions, document_from_blocks
from knowledge.sniff import DocKind

_BLANK_LINES = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True, slots=True)
class PdfPages:
    """The text of pages ``first .. first + len(texts) - 1`` of a PDF (1-based), before
    offsets exist: what one page-range parse returns, plain data for JSON."""

    page_count: int
    first: int
    texts: tuple[str, ...]
    ocr_pages: tuple[int, ...] = ()
    title: str | None = None

    @property
    def last(self) -> int:
        return self.first + len(self.texts) - 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PdfPages:
        return cls(
            page_count=int(data["page_count"]),
            first=int(data["first"]),
            texts=tuple(str(t) for t in data["texts"]),
            ocr_pages=tuple(int(p) for p in data.get("ocr_pages", ())),
            title=None if data.get("title") is None else str(data["title"]),
        )


def page_blocks(page_no: int, text: str) -> Iterator[Block]:
    """One block per paragraph of a page's text (blank lines separate paragraphs)."""
    for paragraph in _BLANK_LINES.split(text):
        if paragraph.strip():
            yield Block(text=paragraph, page=page_no)


def page_ranges(page_count: int, size: int, *, start: int = 1) -> list[tuple[int, int]]:
    """Pages ``start..page_count`` cut into inclusive ranges of at most ``size`` pages."""
    if size < 1:
        raise ValueError("a page range holds at least one page")
    return [(first, min(first + size - 1, page_count)) for first in range(start, page_count + 1, size)]


def pdf_document(parts: Sequence[PdfPages], options: ParseOptions) -> ParsedDocument:
    """Merge page ranges (any order) into the document a single pass would have produced.

    The ranges must tile pages 1..page_count exactly; offsets are computed here, once, over
    the pages in order, so page numbers and character offsets match the single pass.
    """
    ordered = sorted(parts, key=lambda p: p.first)
    if not ordered:
        raise ValueError("no page ranges to merge")
    page_count = ordered[0].page_count
    expected = 1
    for part in ordered:
        if part.page_count != page_count or part.first != expected:
            raise ValueError(f"page ranges do not tile the document (at page {expected})")
        expected = part.last + 1
    if expected != page_count + 1:
        raise ValueError(f"page ranges end at page {expected - 1} of {page_count}")
    ocr_pages = [p for part in ordered for p in part.ocr_pages]
    if len(ocr_pages) > options.max_ocr_pages:
        raise ParseFailed(f"the PDF has more than {options.max_ocr_pages} scanned pages to OCR")
    blocks = [
        block
        for part in ordered
        for number, text in enumerate(part.texts, part.first)
        for block in page_blocks(number, text)
    ]
    return document_from_blocks(
        DocKind.PDF, blocks, options=options, title=ordered[0].title, page_count=page_count, ocr_pages=ocr_pages
    )


__all__ = ["PdfPages", "page_blocks", "page_ranges", "pdf_document"]
