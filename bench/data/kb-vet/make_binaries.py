"""Writes the two binary documents of kb-vet from the text in this script, so they can be
reviewed and regenerated: ``docs/tabela-servicos-2025.pdf`` (2 pages, text layer, WinAnsi
Helvetica) and ``docs/banho-e-tosa.docx`` (headings, paragraphs and a table).

    .venv/bin/python bench/data/kb-vet/make_binaries.py
"""

from __future__ import annotations

import io
from pathlib import Path

HERE = Path(__file__).parent

PDF_PAGES = [
    [
        "Tabela de serviços 2025 - Consultas, vacinas e exames",
        "Valores válidos a partir de 02/01/2025 nas unidades Perdizes e Tatuapé.",
        "Consultas",
        "Consulta clínica geral em dias úteis, das 8h às 19h: R$ 180,00.",
        "Consulta de retorno em até 15 dias: sem custo.",
        "Consulta noturna, das 19h às 23h: R$ 260,00.",
        "Consulta de emergência, 24 horas, só na unidade Tatuapé: R$ 390,00.",
        "Vacinas",
        "Vacina V10 para cães: R$ 145,00 por dose.",
        "Vacina antirrábica: R$ 95,00 por dose.",
        "Vacina V5 felina para gatos: R$ 160,00 por dose.",
        "Microchip com registro nacional: R$ 120,00.",
        "Exames laboratoriais (exame, preço, prazo do resultado)",
        "Hemograma completo - R$ 85,00 - resultado em 1 dia útil.",
        "Perfil renal - R$ 140,00 - resultado em 2 dias úteis.",
        "Exame de fezes - R$ 60,00 - resultado em 3 dias úteis.",
    ],
    [
        "Tabela de serviços 2025 - Cirurgias e internação",
        "Castração de gata: R$ 650,00.",
        "Castração de gato: R$ 480,00.",
        "Castração de cão até 15 kg: R$ 780,00; acima de 15 kg: R$ 980,00.",
        "Limpeza de tártaro com anestesia: R$ 540,00.",
        "Diária de internação: R$ 320,00, com acompanhamento veterinário 24 horas.",
        "Ultrassom abdominal - R$ 230,00 - laudo em 2 dias úteis.",
        "Os valores de cirurgia incluem anestesia e medicação do dia, mas não incluem exames pré-operatórios.",
    ],
]


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf(pages: list[list[str]]) -> bytes:
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    kids = []
    next_id = 4
    for lines in pages:
        page_id, content_id = next_id, next_id + 1
        next_id += 2
        stream = b"\n".join(
            b"BT /F1 11 Tf 60 %d Td (%s) Tj ET" % (740 - 28 * i, _escape(line)) for i, line in enumerate(lines)
        )
        objects[content_id] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % content_id
        )
        kids.append(b"%d 0 R" % page_id)
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(pages))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n")
    xref = out.tell()
    count = max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for number in range(1, count):
        out.write(b"%010d 00000 n \n" % offsets[number])
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))
    return out.getvalue()


def docx(path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading("Banho e tosa Bem-Te-Vi", level=1)
    doc.add_paragraph(
        "O banho e tosa funciona nas duas unidades, de terça a sábado, com hora marcada pelo app. "
        "Usamos produtos hipoalergênicos e secagem sem calor excessivo."
    )
    doc.add_heading("Preços e duração por porte", level=2)
    rows = [
        ("Porte", "Banho", "Banho e tosa", "Duração do banho e tosa"),
        ("Pequeno (até 10 kg)", "R$ 70,00", "R$ 110,00", "1 hora"),
        ("Médio (de 10 a 25 kg)", "R$ 90,00", "R$ 140,00", "1 hora e 30 minutos"),
        ("Grande (acima de 25 kg)", "R$ 120,00", "R$ 180,00", "2 horas"),
    ]
    table = doc.add_table(rows=len(rows), cols=4)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    doc.add_heading("Gatos", level=2)
    doc.add_paragraph("O banho de gatos é feito só às terças e quintas, com uma tosadora especializada em felinos.")
    doc.add_heading("Táxi dog", level=2)
    doc.add_paragraph("O táxi dog busca e leva o pet por R$ 25,00 por trecho, num raio de até 5 km da unidade.")
    doc.add_heading("Pacote mensal", level=2)
    doc.add_paragraph("O pacote mensal de 4 banhos tem 15% de desconto sobre o preço avulso.")
    doc.save(str(path))


def main() -> None:
    (HERE / "docs/tabela-servicos-2025.pdf").write_bytes(pdf(PDF_PAGES))
    docx(HERE / "docs/banho-e-tosa.docx")


if __name__ == "__main__":
    main()
