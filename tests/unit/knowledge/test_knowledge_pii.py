from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import ParsedDocument, PiiKind, evaluate_pii, find_pii, mask_document, mask_pii
from knowledge.pii import cnpj_is_valid, cpf_is_valid


def _flip_last_digit(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


@pytest.mark.parametrize("cpf", ["415.883.594-17", "820.435.397-95", "89518420025", "223.298.410-94"])
def test_valid_cpf_is_masked_and_a_wrong_check_digit_is_not(cpf: str) -> None:
    assert mask_pii(f"CPF {cpf}, conforme contrato.").text == "CPF [CPF], conforme contrato."
    wrong = _flip_last_digit(cpf)
    assert mask_pii(f"CPF {wrong}, conforme contrato.").text == f"CPF {wrong}, conforme contrato."


def test_repeated_digit_cpf_is_not_a_cpf() -> None:
    assert not cpf_is_valid("111.111.111-11")  # passes the arithmetic, but is never issued
    assert mask_pii("CPF 111.111.111-11").matches == ()


@pytest.mark.parametrize("cnpj", ["38.794.551/0001-47", "45514630000112", "12.ABC.345/01DE-35"])
def test_cnpj_numeric_bare_and_alphanumeric(cnpj: str) -> None:
    assert cnpj_is_valid(cnpj)
    assert mask_pii(f"CNPJ {cnpj}.").text == "CNPJ [CNPJ]."
    assert not cnpj_is_valid(_flip_last_digit(cnpj))
    assert mask_pii(f"CNPJ {_flip_last_digit(cnpj)}.").matches == ()


@pytest.mark.parametrize(
    "phone",
    [
        "(11) 97342-1180",
        "(11) 3090-4455",
        "+55 19 99731-6604",
        "+55 (11) 9 7342-1180",
        "11 97342 1180",
        "11.97342.1180",
        "(011) 3090-4455",
        "11973421180",
        "97342-1180",
    ],
)
def test_brazilian_phone_formats(phone: str) -> None:
    result = mask_pii(f"Fale com a gente: {phone}.")
    assert result.text == "Fale com a gente: [TELEFONE].", phone
    assert [m.value for m in result.matches] == [phone]


@pytest.mark.parametrize(
    "text",
    [
        "Vigente de 01/03/2025 a 31/03/2025.",
        "Plano anual por R$ 1.188,00 ou 12x de R$ 109,90.",
        "CEP 04101-300, Rua Domingos de Morais, 2.140.",
        "Protocolo 2024 1234 5678.",  # 20 is not an area code
        "Lotação de 3090-4455 pessoas.",  # landline shape without DDD is left alone
        "Siga @aurorafit.oficial no Instagram.",
        "Versão 2025.1, seção 3.2.1.",
    ],
)
def test_things_that_are_not_pii_stay(text: str) -> None:
    assert mask_pii(text).text == text


def test_emails_and_their_boundaries() -> None:
    text = "Escreva para atendimento@aurorafit.com.br. Ou patricia.lemos+rh@construtoraiperoxo.com.br!"
    assert mask_pii(text).text == "Escreva para [EMAIL]. Ou [EMAIL]!"


def test_only_requested_kinds_are_masked() -> None:
    text = "CPF 415.883.594-17, e-mail a@b.com.br"
    assert mask_pii(text, [PiiKind.EMAIL]).text == "CPF 415.883.594-17, e-mail [EMAIL]"


def test_findings_point_at_the_original_text() -> None:
    text = "Contato: Carlos — CPF 415.883.594-17 — (31) 98877-1203"
    for match in find_pii(text):
        assert text[match.start : match.end] == match.value
    assert [m.kind for m in find_pii(text)] == [PiiKind.CPF, PiiKind.PHONE]


def test_masked_document_keeps_offsets_true(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["cases-clientes.docx"]
    masked = mask_document(doc)
    masked.check()
    assert len(masked.sections) == len(doc.sections)
    assert "415.883.594-17" not in masked.text
    assert "patricia.lemos@" not in masked.text
    assert "CPF [CPF] — e-mail [EMAIL] — celular [TELEFONE]" in masked.text
    contact = next(s for s in masked.sections if s.text.startswith("Carlos Henrique Batista — CPF"))
    assert contact.text == "Carlos Henrique Batista — CPF [CPF] — e-mail [EMAIL] — celular [TELEFONE]."


def test_pii_precision_and_recall_on_kb_demo(kb_dir: Path, require_tesseract: None) -> None:
    report = evaluate_pii(kb_dir / "pii.jsonl")
    print("\n" + report.summary())
    assert len(report.documents) == 9  # every document was scanned, not only those with PII
    expected_counts = {PiiKind.CPF: 5, PiiKind.CNPJ: 4, PiiKind.PHONE: 9, PiiKind.EMAIL: 9, PiiKind.CARD: 0}
    for kind, score in report.scores.items():
        assert score.true_positives + score.false_negatives == expected_counts[kind]
        assert score.precision >= 0.95, (kind, report.false_positives)
        assert score.recall >= 0.95, (kind, report.false_negatives)


def test_card_numbers_are_masked_only_when_luhn_holds() -> None:
    from knowledge.pii import luhn_is_valid

    assert luhn_is_valid("4111 1111 1111 1111")
    assert not luhn_is_valid("4111 1111 1111 1112")
    text = (
        "Visa 4111 1111 1111 1111, Master 5555-5555-5555-4444, Amex 3782 822463 10005, "
        "bare 4012888888881881; pedido 4111 1111 1111 1112 e protocolo 1234567890123456."
    )
    masked = mask_pii(text)
    assert masked.text == (
        "Visa [CARTAO], Master [CARTAO], Amex [CARTAO], "
        "bare [CARTAO]; pedido 4111 1111 1111 1112 e protocolo 1234567890123456."
    )
    assert {m.kind for m in masked.matches} == {PiiKind.CARD}
    # A valid CNPJ written bare (14 digits) stays a CNPJ even if it happens to pass Luhn.
    assert [m.kind for m in find_pii("CNPJ 11222333000181")] == [PiiKind.CNPJ]
