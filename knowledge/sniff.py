"""Decide what an upload is from its bytes, never from its name.

Names and declared MIME types are chosen by whoever uploads, so a PDF called ``notes.txt``
is still parsed as a PDF and a PNG called ``faq.html`` is still refused. Only one question
cannot be answered from bytes alone: whether plain UTF-8 prose is Markdown or text. Strong
Markdown syntax (ATX headings, fences, links, tables) decides it; otherwise the file name's
extension is used as a hint, because both parsers keep the text verbatim and differ only in
how they find headings.

Sniffing reads at most a few KiB and never decompresses anything: the DOCX check looks for
the part names in the ZIP headers, and the full archive checks (zip-bomb limits) happen in
the parser, inside the sandbox.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from enum import StrEnum

from charset_normalizer import from_bytes

from core.errors import UnsupportedMediaType


class DocKind(StrEnum):
    """The formats the knowledge base can read."""

    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


MIME_TYPES: dict[DocKind, str] = {
    DocKind.PDF: "application/pdf",
    DocKind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocKind.HTML: "text/html",
    DocKind.MARKDOWN: "text/markdown",
    DocKind.TEXT: "text/plain",
}


@dataclass(frozen=True, slots=True)
class SniffResult:
    kind: DocKind
    mime: str


# Signatures of formats we refuse, so the error can say what the file really is.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xca\xfe\xba\xbe", "application/x-mach-binary"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\x1f\x8b", "application/gzip"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),  # legacy OLE2 .doc/.xls
    (b"{\\rtf", "application/rtf"),
    (b"\x00asm", "application/wasm"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
)

_PDF_HEADER = b"%PDF-"
# The PDF spec lets readers accept junk before the header; real-world files have some.
_PDF_HEADER_WINDOW = 1024
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_SNIFF_WINDOW = 8192

_HTML_START = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TAG = re.compile(r"</?(?:p|div|h[1-6]|ul|ol|li|table|tr|td|br|span|a|section|article)\b", re.I)
_SVG_START = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+svg|svg)\b", re.IGNORECASE | re.DOTALL
)
_MD_STRONG = re.compile(
    r"^#{1,6}[ \t]+\S"  # ATX heading
    r"|^(?:```|~~~)"  # fenced code
    r"|\[[^\]\n]+\]\([^)\s]+\)"  # inline link
    r"|^\s*\|?\s*:?-{3,}:?\s*\|"  # table delimiter row
    r"|\*\*[^*\n]+\*\*",  # strong emphasis
    re.MULTILINE,
)
_MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")


def decode_text(data: bytes) -> str:
    """Decode bytes that should be text: UTF-8 (with or without BOM) first, then a guess.

    Raises ``UnsupportedMediaType`` when the bytes are not text in any encoding we trust.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:1_000_000]).best()
    if best is None or best.encoding is None:
        raise UnsupportedMediaType("the file is neither a known document format nor text")
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnsupportedMediaType("the file's text encoding could not be determined") from exc


def _looks_binary(head: bytes) -> bool:
    """NUL bytes or many C0 control characters mean binary data, whatever the encoding."""
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D))
    return controls > max(8, len(head) // 100)


def _refused_type(head: bytes) -> str | None:
    for magic, mime in _REFUSED_MAGIC:
        if head.startswith(magic):
            return mime
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _decode_head(head: bytes) -> str:
    """Decode the first KiB of a file, tolerating a UTF-8 sequence cut at the window's end."""
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return decode_text(head)


def _is_docx(data: bytes) -> bool:
    # Part names are stored uncompressed in every local and central header, so finding both
    # names proves nothing about validity but is enough to route the file to the DOCX parser,
    # which validates the archive properly (and inside the sandbox).
    return b"word/document.xml" in data and b"[Content_Types].xml" in data


def sniff_bytes(data: bytes, *, filename: str | None = None) -> SniffResult:
    """Classify ``data`` as one of :class:`DocKind` or raise ``UnsupportedMediaType``.

    ``filename`` is only a tie-breaker between Markdown and plain text (see module doc).
    """
    if not data:
        raise UnsupportedMediaType("the file is empty (0 bytes)")
    head = data[:_SNIFF_WINDOW]

    if _PDF_HEADER in data[:_PDF_HEADER_WINDOW]:
        return _result(DocKind.PDF)
    if head.startswith(_ZIP_MAGIC):
        if _is_docx(data):
            return _result(DocKind.DOCX)
        raise UnsupportedMediaType(
            "ZIP archives are only accepted as DOCX documents; this one has no word/document.xml",
            details={"detected": "application/zip"},
        )
    binary = _looks_binary(head)
    detected = _refused_type(head)
    # Short signatures ("BM", "MZ", "ID3") also start ordinary sentences, so a signature only
    # counts when the bytes are binary too (RTF is the one refused format that is text).
    if detected and (binary or detected == "application/rtf"):
        raise UnsupportedMediaType(f"{detected} files are not supported", details={"detected": detected})
    if binary:
        raise UnsupportedMediaType(
            "the file is binary data, not a supported document", details={"detected": "application/octet-stream"}
        )

    text_head = _decode_head(head).lstrip("\ufeff")
    if _SVG_START.search(text_head):
        raise UnsupportedMediaType("image/svg+xml files are not supported", details={"detected": "image/svg+xml"})
    if _HTML_START.search(text_head) or (text_head.lstrip().startswith("<") and len(_HTML_TAG.findall(text_head)) >= 3):
        return _result(DocKind.HTML)
    if not text_head.strip():
        raise UnsupportedMediaType("the file contains only whitespace")
    if _MD_STRONG.search(text_head):
        return _result(DocKind.MARKDOWN)
    if filename and filename.lower().endswith(_MARKDOWN_EXTENSIONS):
        return _result(DocKind.MARKDOWN)
    return _result(DocKind.TEXT)


def _result(kind: DocKind) -> SniffResult:
    return SniffResult(kind=kind, mime=MIME_TYPES[kind])


__all__ = ["MIME_TYPES", "DocKind", "SniffResult", "decode_text", "sniff_bytes"]
