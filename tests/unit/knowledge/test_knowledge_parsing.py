from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from knowledge import DocKind, ParsedDocument, parse_document


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _offsets_hold(doc: ParsedDocument) -> None:
    assert doc.sections
    previous_end = 0
    for section in doc.sections:
        assert doc.text[section.char_start : section.char_end] == section.text
        assert section.char_start >= previous_end  # reading order, no overlap
        previous_end = section.char_end


def test_every_document_parses_with_consistent_offsets(parsed: dict[str, ParsedDocument]) -> None:
    for name, doc in parsed.items():
        _offsets_hold(doc)
        assert len(doc.text) > 500, name


def test_gold_answers_are_in_the_cited_sources(
    parsed: dict[str, ParsedDocument], questions: list[dict[str, Any]]
) -> None:
    """Each must_contain string is in the parsed text of a cited source (on its page)."""
    for q in questions:
        for needle in q["must_contain"]:
            texts = []
            for source in q["sources"]:
                doc = parsed[Path(source["file"]).name]
                page = source["page"]
                texts += [s.text for s in doc.sections if page is None or s.page == page]
            assert any(_norm(needle) in _norm(t) for t in texts) or _norm(needle) in _norm(" ".join(texts)), (
                f"{q['id']}: {needle!r} not found"
            )


def test_image_only_pdf_is_read_by_ocr_with_accents(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["comunicado-reforma-moema.pdf"]
    assert doc.kind is DocKind.PDF
    assert doc.ocr_pages == (1,)
    assert {s.page for s in doc.sections} == {1}
    text = unicodedata.normalize("NFC", doc.text)
    for word in ("incômodo", "climatização", "modernização", "compensação", "período", "Reinauguração"):
        assert word in text, word
    assert "17/03/2025 a 06/04/2025" in text


def test_pdf_text_layer_keeps_pages(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["tabela-precos-2025.pdf"]
    assert doc.page_count == 3
    assert doc.ocr_pages == ()
    by_page = {p: " ".join(s.text for s in doc.sections if s.page == p) for p in (1, 2, 3)}
    assert "R$ 109,90/mês" in by_page[1]
    assert "Sessão avulsa 1 R$ 110,00" in by_page[2]
    assert "50 a 199 vidas R$ 99,90" in by_page[3]
    assert "R$ 99,90" not in by_page[2]


def test_html_drops_chrome_and_keeps_structure(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["faq.html"]
    text = doc.text
    # header menu, footer links, aside banner, script, breadcrumb <nav>, copyright line
    for chrome in (
        "Matricule-se",
        "Trabalhe conosco",
        "Baixe o Aurora App",
        "dataLayer",
        "In\u00edcio \u203a",
        "\u00a9",
    ):
        assert chrome not in text, chrome
    assert "Pinheiros (São Paulo/SP) | Rua dos Pinheiros, 988 | 24 horas | 7h às 20h | 7h às 20h" in text
    assert "- Pix: aceito apenas para o pagamento à vista" in text
    assert "1. Você pode cancelar o agendamento" in text
    assert "Essencial, Livre, Aurora Plus e Jovem." in text  # inline tags do not add spaces
    headings = [s for s in doc.sections if s.is_heading]
    assert headings[0].text == "# Perguntas frequentes"
    answer = next(s for s in doc.sections if s.text.startswith("Sim. Você pode escolher"))
    assert answer.heading_path == ("Perguntas frequentes", "Pagamento", "Posso escolher o dia do vencimento?")
    assert doc.title == "Perguntas frequentes | Aurora Fit"


def test_docx_headings_by_style_and_tables(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["cases-clientes.docx"]
    assert doc.title == "Cases de Clientes Aurora Fit — 2024"
    row = "Carlos Henrique Batista | Pessoa física | Belo Horizonte \u2013 Savassi | Livre + personal | maio/2024"
    assert row in doc.text
    challenge = next(s for s in doc.sections if s.text.startswith("Carlos trabalhava sentado"))
    assert challenge.heading_path == (
        "Cases de Clientes Aurora Fit — 2024",
        "Case 2 — Carlos Henrique Batista",
        "Desafio",
    )
    assert "- Adesão ao benefício subiu de 38% para 61%" in doc.text


def test_markdown_text_is_the_source_file(kb_docs: dict[str, Path], parsed: dict[str, ParsedDocument]) -> None:
    for name in ("brand-book.md", "manual-operacoes-unidades.md", "politicas.txt"):
        source = unicodedata.normalize("NFC", kb_docs[name].read_text(encoding="utf-8"))
        assert parsed[name].text == source, name
    manual = parsed["manual-operacoes-unidades.md"]
    section = next(s for s in manual.sections if "a última entrada é às 22h30" in s.text)
    assert section.heading_path == ("Manual de Operações das Unidades Aurora Fit", "4. Fechamento da unidade")


def test_plain_text_headings_between_rulers(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["politicas.txt"]
    assert doc.kind is DocKind.TEXT
    headings = [s.text for s in doc.sections if s.is_heading]
    assert headings[:3] == ["1. DISPOSIÇÕES GERAIS", "2. DIREITO DE ARREPENDIMENTO", "3. CANCELAMENTO"]
    assert not any(set(s.text) == {"="} for s in doc.sections)


def test_markdown_code_fences_are_not_headings() -> None:
    doc = parse_document(b"# Guia\n\nTexto.\n\n```\n# comentario de shell\n```\n\n## Parte 2\n\nMais texto.\n")
    headings = [s.text for s in doc.sections if s.is_heading]
    assert headings == ["# Guia", "## Parte 2"]
    assert doc.sections[-1].heading_path == ("Guia", "Parte 2")
