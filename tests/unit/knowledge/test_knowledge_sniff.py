from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from core.errors import UnsupportedMediaType
from knowledge import DocKind, sniff_bytes

EXPECTED = {
    "brand-book.md": DocKind.MARKDOWN,
    "cases-clientes.docx": DocKind.DOCX,
    "comunicado-reforma-moema.pdf": DocKind.PDF,
    "faq.html": DocKind.HTML,
    "guia-aurora-corp.md": DocKind.MARKDOWN,
    "manual-operacoes-unidades.md": DocKind.MARKDOWN,
    "politicas.txt": DocKind.TEXT,
    "promocoes-do-mes.md": DocKind.MARKDOWN,
    "tabela-precos-2025.pdf": DocKind.PDF,
}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_kb_demo_file_is_recognised(kb_docs: dict[str, Path]) -> None:
    assert set(kb_docs) == set(EXPECTED)
    for name, path in kb_docs.items():
        assert sniff_bytes(path.read_bytes(), filename=name).kind is EXPECTED[name], name


def test_content_wins_over_the_file_name(kb_docs: dict[str, Path]) -> None:
    pdf = kb_docs["tabela-precos-2025.pdf"].read_bytes()
    result = sniff_bytes(pdf, filename="leia-me.txt")
    assert result.kind is DocKind.PDF
    assert result.mime == "application/pdf"
    docx = kb_docs["cases-clientes.docx"].read_bytes()
    assert sniff_bytes(docx, filename="planilha.html").kind is DocKind.DOCX
    html = kb_docs["faq.html"].read_bytes()
    assert sniff_bytes(html, filename="faq.md").kind is DocKind.HTML


def test_images_are_refused_even_with_a_document_name() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        sniff_bytes(_png(), filename="contrato.pdf")
    assert info.value.status == 415
    assert "image/png" in info.value.message


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "application/x-msdownload"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 32, "application/x-executable"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "application/gzip"),
    ],
)
def test_binary_formats_are_refused_by_signature(data: bytes, detected: str) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        sniff_bytes(data, filename="documento.txt")
    assert info.value.details == {"detected": detected}


def test_empty_and_blank_files_are_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="empty"):
        sniff_bytes(b"", filename="vazio.pdf")
    with pytest.raises(UnsupportedMediaType, match="whitespace"):
        sniff_bytes(b"  \n\n\t ", filename="vazio.txt")


def test_a_zip_that_is_not_docx_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("planilha.csv", "a,b\n1,2\n")
    with pytest.raises(UnsupportedMediaType, match="DOCX"):
        sniff_bytes(buffer.getvalue(), filename="cases.docx")


def test_text_that_starts_like_a_weak_signature_is_still_text() -> None:
    # "BM" opens bitmaps and "MZ" executables, but also ordinary sentences.
    assert sniff_bytes(b"BMW e Mercedes no estacionamento.").kind is DocKind.TEXT
    assert sniff_bytes("MZ Transportes: horário de coleta às 9h.".encode()).kind is DocKind.TEXT


def test_markdown_needs_markdown_syntax_or_a_markdown_name() -> None:
    assert sniff_bytes(b"# Titulo\n\nTexto.").kind is DocKind.MARKDOWN
    plain = b"Lista de itens:\n- um\n- dois\n"
    assert sniff_bytes(plain).kind is DocKind.TEXT
    assert sniff_bytes(plain, filename="notas.md").kind is DocKind.MARKDOWN


def test_latin1_text_is_accepted() -> None:
    assert sniff_bytes("Política de privacidade e cancelamento.".encode("latin-1")).kind is DocKind.TEXT
