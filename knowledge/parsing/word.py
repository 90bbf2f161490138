"""DOCX: paragraphs, headings (by style) and tables, in body order, via python-docx.

A DOCX is a ZIP archive, so before python-docx touches it we read only the central
directory and refuse archives that would expand past our limits (entry count, total size,
compression ratio): a 40 KiB upload must not become gigabytes of XML in memory. The sizes
in the directory can lie, but :mod:`zipfile` never inflates an entry past its declared size
(it stops and fails the CRC check), so the declared sizes are a real upper bound. The
sandbox's memory cap is the backstop. python-docx parses XML with entity resolution off,
so entity-expansion tricks do not apply.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import OpcError
from docx.styles.style import ParagraphStyle
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree

from knowledge.errors import ParseFailed
from knowledge.parsing.model import Block, HeadingStack, ParsedDocument, ParseOptions, document_from_blocks
from knowledge.sniff import DocKind

_HEADING_STYLE = re.compile(r"^(?:heading|t[íi]tulo|titre|überschrift)\s*(\d)$", re.IGNORECASE)
_TITLE_STYLE = re.compile(r"^(?:title|t[íi]tulo|titre|titel)$", re.IGNORECASE)
# Only entries this large are checked for their own ratio: tiny parts compress oddly well
# and cannot hurt anyone.
_ENTRY_RATIO_MIN_BYTES = 1024 * 1024
_MB = 1024 * 1024


def check_zip_limits(data: bytes, options: ParseOptions) -> None:
    """Refuse ZIP archives that look like decompression bombs, without inflating anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ParseFailed("the DOCX file is not a valid ZIP archive (truncated or corrupt)") from exc
    if len(entries) > options.max_zip_entries:
        raise ParseFailed(
            f"the DOCX archive has {len(entries)} entries (limit {options.max_zip_entries}); "
            "refusing a possible zip bomb",
            details={"entries": len(entries)},
        )
    total = sum(e.file_size for e in entries)
    if total > options.max_zip_uncompressed_bytes:
        raise ParseFailed(
            f"the DOCX archive expands to {total // _MB} MB "
            f"(limit {options.max_zip_uncompressed_bytes // _MB} MB); refusing a possible zip bomb",
            details={"uncompressed_bytes": total},
        )
    compressed = sum(e.compress_size for e in entries)
    ratio = total / max(compressed, 1)
    worst = max(
        (e.file_size / max(e.compress_size, 1) for e in entries if e.file_size >= _ENTRY_RATIO_MIN_BYTES),
        default=0.0,
    )
    if max(ratio, worst) > options.max_zip_ratio:
        raise ParseFailed(
            f"the DOCX archive has a compression ratio of {max(ratio, worst):.0f}:1 "
            f"(limit {options.max_zip_ratio:.0f}:1); refusing a possible zip bomb",
            details={"compression_ratio": round(max(ratio, worst), 1)},
        )


def _heading_level(paragraph: Paragraph) -> int | None:
    """Heading level from the paragraph's style (or the style it is based on); 0 is Title."""
    outline = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if outline and str(outline[0]).isdigit() and int(outline[0]) < 9:
        return int(outline[0]) + 1
    style: ParagraphStyle | None = paragraph.style
    for _ in range(5):  # custom heading styles are usually based on a built-in one
        if style is None:
            return None
        name = (style.name or "").strip()
        if _TITLE_STYLE.match(name):
            return 0
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    return name.lower().startswith("list") or bool(paragraph._p.xpath("./w:pPr/w:numPr"))


def _table_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell is repeated once per grid column
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            yield " | ".join(cells)


def _blocks(document: DocxDocument) -> Iterator[Block]:
    stack = HeadingStack()
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            yield Block(text="\n".join(_table_rows(item)), heading_path=stack.path)
            continue
        text = item.text.strip()
        if not text:
            continue
        level = _heading_level(item)
        if level is not None:
            path = stack.push(level, " ".join(text.split()))
            yield Block(text=f"{'#' * max(level, 1)} {' '.join(text.split())}", heading_path=path, is_heading=True)
        elif _is_list_item(item):
            yield Block(text=f"- {text}", heading_path=stack.path)
        else:
            yield Block(text=text, heading_path=stack.path)


def parse_docx(data: bytes, options: ParseOptions) -> ParsedDocument:
    check_zip_limits(data, options)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_blocks(document))
        title = (document.core_properties.title or "").strip() or None
    except (OpcError, KeyError, ValueError, zipfile.BadZipFile, etree.XMLSyntaxError) as exc:
        raise ParseFailed(f"the DOCX file is damaged or not a Word document ({type(exc).__name__})") from exc
    return document_from_blocks(DocKind.DOCX, blocks, options=options, title=title)


__all__ = ["check_zip_limits", "parse_docx"]
