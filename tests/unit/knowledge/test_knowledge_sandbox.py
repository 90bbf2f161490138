"""Hostile and broken uploads: every one ends in a typed error with a reason, never a crash."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from core.errors import UnsupportedMediaType
from knowledge import DocKind, ParseFailed, ParseOptions, SandboxLimits, parse_document, parse_in_sandbox


def _docx_like(extra: dict[str, bytes]) -> bytes:
    """A ZIP that sniffs as DOCX (it has the two parts a DOCX must have) plus ``extra``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for name, data in extra.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_ocr_through_the_sandbox(kb_docs: dict[str, Path], require_tesseract: None) -> None:
    doc = parse_in_sandbox(kb_docs["comunicado-reforma-moema.pdf"].read_bytes())
    assert doc.ocr_pages == (1,)
    assert "ficará fechada de 17/03/2025 a 06/04/2025" in doc.text
    assert "receberão 10 dias adicionais" in doc.text


def test_sandbox_returns_the_same_document_as_in_process(kb_docs: dict[str, Path]) -> None:
    data = kb_docs["cases-clientes.docx"].read_bytes()
    assert parse_in_sandbox(data) == parse_document(data)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.97])
def test_truncated_pdf_is_a_parse_failure(kb_docs: dict[str, Path], fraction: float) -> None:
    data = kb_docs["tabela-precos-2025.pdf"].read_bytes()
    truncated = data[: int(len(data) * fraction)]
    with pytest.raises(ParseFailed) as info:
        parse_in_sandbox(truncated, filename="tabela.pdf")
    assert info.value.status == 422
    assert info.value.code == "parse_failed"
    assert "truncated" in info.value.reason


def test_zero_bytes_are_refused_before_any_process_starts() -> None:
    with pytest.raises(UnsupportedMediaType, match="empty"):
        parse_in_sandbox(b"", filename="vazio.docx")


def test_wrong_extension_is_parsed_by_content(kb_docs: dict[str, Path]) -> None:
    doc = parse_in_sandbox(kb_docs["faq.html"].read_bytes(), filename="faq.pdf")
    assert doc.kind is DocKind.HTML


def test_zip_bomb_docx_is_rejected_by_compression_ratio() -> None:
    bomb = _docx_like({"word/media/zeros.bin": b"\0" * (60 * 1024 * 1024)})
    assert len(bomb) < 200 * 1024  # 60 MB of zeros packs into ~60 KB
    with pytest.raises(ParseFailed, match="zip bomb") as info:
        parse_in_sandbox(bomb, filename="cases.docx")
    assert info.value.details["compression_ratio"] > 100


def test_zip_bomb_docx_is_rejected_by_size_and_entry_count() -> None:
    # Limits are options; small ones keep the test fast while exercising the same checks.
    options = ParseOptions(max_zip_uncompressed_bytes=1024 * 1024, max_zip_entries=50)
    big = _docx_like({"word/media/noise.bin": bytes(range(256)) * 8192})  # 2 MiB, ratio ~ 200:1
    with pytest.raises(ParseFailed, match="expands to"):
        parse_document(big, options=options)
    many = _docx_like({f"word/media/{i}.xml": b"<x/>" for i in range(60)})
    with pytest.raises(ParseFailed, match="62 entries"):
        parse_document(many, options=options)


def test_a_damaged_docx_is_a_parse_failure(kb_docs: dict[str, Path]) -> None:
    data = kb_docs["cases-clientes.docx"].read_bytes()
    with pytest.raises(ParseFailed, match="DOCX"):
        parse_in_sandbox(data[: len(data) // 2])


def test_wall_clock_limit_kills_the_parse(kb_docs: dict[str, Path]) -> None:
    with pytest.raises(ParseFailed, match="longer than") as info:
        parse_in_sandbox(kb_docs["tabela-precos-2025.pdf"].read_bytes(), limits=SandboxLimits(wall_seconds=0.05))
    assert info.value.details["limit"] == "wall_clock"


def test_memory_limit_stops_a_memory_hungry_parse() -> None:
    # 1.2 million tiny elements: a 10 MB upload whose parse tree needs about a gigabyte.
    html = b"<html><body>" + b"<p>x</p>" * 1_200_000 + b"</body></html>"
    with pytest.raises(ParseFailed, match="memory") as info:
        parse_in_sandbox(html, limits=SandboxLimits(memory_bytes=128 * 1024 * 1024))
    assert info.value.details["limit"] == "memory"


def test_cpu_limit_stops_a_slow_parse(kb_docs: dict[str, Path], require_tesseract: None) -> None:
    with pytest.raises(ParseFailed, match="CPU") as info:
        parse_in_sandbox(kb_docs["comunicado-reforma-moema.pdf"].read_bytes(), limits=SandboxLimits(cpu_seconds=1))
    assert info.value.details["limit"] == "cpu"


def test_pdf_without_text_or_images_is_a_parse_failure() -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(595, 842)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    with pytest.raises(ParseFailed, match="no extractable text"):
        parse_in_sandbox(buffer.getvalue())
