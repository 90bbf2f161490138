"""What every parser returns: one document text and the sections that tile it.

A parser's job is to produce a single canonical ``text`` for the document and a list of
:class:`Section` spans over it, in reading order, each with its page (PDF only) and the
heading path it sits under. The invariant ``doc.text[s.char_start:s.char_end] == s.text``
holds for every section, so everything downstream (chunks, citations, PII findings) can
point into one string with plain character offsets.

For Markdown and plain text the document text *is* the file (decoded, NFC, ``\\n`` line
ends), so offsets also point into the uploaded source. For PDF, HTML and DOCX it is the
extracted text: blocks joined by a blank line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from knowledge.errors import ParseFailed
from knowledge.sniff import DocKind

BLOCK_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """Knobs for parsing; plain data so it can cross into the sandbox process as JSON."""

    ocr: bool = True  # OCR PDF pages that have images but no text layer
    ocr_languages: str = "por"  # Tesseract language packs, e.g. "por+eng"
    ocr_dpi: int = 300  # Tesseract is tuned for ~300 dpi scans
    max_pages: int = 2_000
    max_ocr_pages: int = 200  # ~2 s of CPU each; beyond this the upload is refused
    max_text_chars: int = 20_000_000  # ~10k pages of prose; bounds the sandbox's reply
    # DOCX (ZIP) limits, checked before any part is decompressed.
    max_zip_entries: int = 1_000
    max_zip_uncompressed_bytes: int = 200 * 1024 * 1024
    max_zip_ratio: float = 100.0


@dataclass(frozen=True, slots=True)
class Section:
    """One block of the document: a heading, paragraph, list, table row group or page.

    ``heading_path`` lists the headings above the block, outermost first; a heading's own
    section includes itself. ``page`` is 1-based for PDFs and ``None`` for other formats.
    """

    text: str
    char_start: int
    char_end: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    is_heading: bool = False


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    kind: DocKind
    text: str
    sections: tuple[Section, ...]
    title: str | None = None
    page_count: int | None = None
    ocr_pages: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: how the sandbox hands results back (never pickle from a child).

        Section texts are left out (they are slices of ``text``) to halve the reply.
        """
        data = asdict(self)
        for section in data["sections"]:
            del section["text"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParsedDocument:
        text = str(data["text"])
        sections = tuple(
            Section(
                text=text[int(s["char_start"]) : int(s["char_end"])],
                char_start=int(s["char_start"]),
                char_end=int(s["char_end"]),
                page=None if s["page"] is None else int(s["page"]),
                heading_path=tuple(str(h) for h in s["heading_path"]),
                is_heading=bool(s["is_heading"]),
            )
            for s in data["sections"]
        )
        doc = cls(
            kind=DocKind(data["kind"]),
            text=text,
            sections=sections,
            title=data.get("title"),
            page_count=data.get("page_count"),
            ocr_pages=tuple(int(p) for p in data.get("ocr_pages", ())),
        )
        doc.check()
        return doc

    def check(self) -> None:
        """Verify the offset invariants; a violation is a parser bug, so fail loudly.

        Sections are non-empty, in reading order, do not overlap, and are exact slices.
        """
        previous_end = 0
        for s in self.sections:
            if not previous_end <= s.char_start < s.char_end <= len(self.text):
                raise ValueError(f"section {s.char_start}:{s.char_end} is out of order or out of range")
            if self.text[s.char_start : s.char_end] != s.text:
                raise ValueError(f"section offsets do not match the text at {s.char_start}:{s.char_end}")
            previous_end = s.char_end


@dataclass(slots=True)
class Block:
    """A parser's intermediate output before offsets are known."""

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    is_heading: bool = False


def normalize_text(text: str) -> str:
    """NFC, ``\\n`` line ends, no NULs: what every document text is made of."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return unicodedata.normalize("NFC", text)


def document_from_blocks(
    kind: DocKind,
    blocks: Iterable[Block],
    *,
    options: ParseOptions,
    title: str | None = None,
    page_count: int | None = None,
    ocr_pages: Sequence[int] = (),
) -> ParsedDocument:
    """Join blocks with a blank line and record where each one landed."""
    parts: list[str] = []
    sections: list[Section] = []
    cursor = 0
    for block in blocks:
        text = normalize_text(block.text).strip()
        if not text:
            continue
        if parts:
            parts.append(BLOCK_SEPARATOR)
            cursor += len(BLOCK_SEPARATOR)
        parts.append(text)
        sections.append(
            Section(
                text=text,
                char_start=cursor,
                char_end=cursor + len(text),
                page=block.page,
                heading_path=block.heading_path,
                is_heading=block.is_heading,
            )
        )
        cursor += len(text)
        if cursor > options.max_text_chars:
            raise ParseFailed(f"the document has more than {options.max_text_chars} characters of text")
    return finish(
        ParsedDocument(
            kind=kind,
            text="".join(parts),
            sections=tuple(sections),
            title=title,
            page_count=page_count,
            ocr_pages=tuple(ocr_pages),
        )
    )


def finish(doc: ParsedDocument) -> ParsedDocument:
    """Refuse documents with no text: there is nothing to index, and the uploader should know."""
    if not doc.text.strip():
        raise ParseFailed("the document has no extractable text")
    doc.check()
    return doc


@dataclass(slots=True)
class HeadingStack:
    """Tracks the current heading path while walking a document top to bottom."""

    _stack: list[tuple[int, str]] = field(default_factory=list)

    def push(self, level: int, title: str) -> tuple[str, ...]:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)


__all__ = [
    "BLOCK_SEPARATOR",
    "Block",
    "HeadingStack",
    "ParseOptions",
    "ParsedDocument",
    "Section",
    "document_from_blocks",
    "finish",
    "normalize_text",
]
