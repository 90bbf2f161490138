"""Identifier normalisation, the needles that find a person in text, and the registry's
static shape (no services)."""

from __future__ import annotations

import re
import uuid

import pytest

from actors.events import RunEventBuffer
from core.errors import ValidationFailed
from tools.privacy import REGISTRY, Redactor, Subject
from tools.privacy.identifiers import cpf_is_valid, normalize_cpf, normalize_email, normalize_phone
from tools.privacy.redis_keys import run_stream_key
from tools.privacy.service import _TYPES, _compile


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(11) 98765-4321", "+5511987654321"),
        ("11987654321", "+5511987654321"),
        ("+55 11 98765 4321", "+5511987654321"),
        ("55 11 98765-4321", "+5511987654321"),
        ("011 98765-4321", "+5511987654321"),
        ("0 41 11 98765-4321", "+5511987654321"),  # carrier selection code
        ("(21) 3333-4444", "+552133334444"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phones_become_e164_with_brazil_as_default(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw", ["12", "abc", "+55 11 8765-43210", "(00) 98765-4321", "+0 123456789", "11 98765+4321", "+55 11 98765"]
)
def test_junk_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_phone(raw)
    assert info.value.details[0]["loc"] == ["body", "subject", "phone"]


def test_cpf_check_digits() -> None:
    assert normalize_cpf("529.982.247-25") == "52998224725"
    assert cpf_is_valid("11144477735")
    for bad in ("52998224724", "52998224715", "11111111111", "1234567890", "5299822472a"):
        assert not cpf_is_valid(bad), bad
    for raw in ("529.982.247-24", "000.000.000-00", "cpf 52998224725", "12345"):
        with pytest.raises(ValidationFailed):
            normalize_cpf(raw)


def test_emails_are_lower_cased_and_checked() -> None:
    assert normalize_email("  Maria.Souza@Example.COM ") == "maria.souza@example.com"
    for bad in ("maria", "maria@", "@example.com", "maria@@example.com", "a b@example.com"):
        with pytest.raises(ValidationFailed):
            normalize_email(bad)


def test_a_subject_needs_an_identifier() -> None:
    with pytest.raises(ValidationFailed):
        Subject.parse(None, None, None)
    with pytest.raises(ValidationFailed):
        Subject.parse("", "", "")


def test_needles_find_every_way_a_person_is_written_and_nothing_else() -> None:
    s = Subject.parse("Maria.Souza@example.com", "(11) 98765-4321", "529.982.247-25").with_names(
        ["Maria Souza Lima", "Ana", "Bia"]
    )
    assert s.names == ("Maria Souza Lima",), "single first names are too common to redact"
    found = re.compile(s.needle_regex(), re.IGNORECASE)
    for text in (
        "e-mail MARIA.SOUZA@EXAMPLE.COM",
        "tel +55 (11) 98765-4321",
        "whatsapp 5511987654321",
        "ligar 11 98765 4321",
        "CPF 529.982.247-25",
        "cpf 52998224725.",
        "cliente maria  souza lima",
    ):
        assert found.search(text), text
    for text in (
        "pedido 1119876543210",  # the digits inside a longer number
        "cpf 529.982.247-26",
        "mariasouza@example.com",
        "Maria Souza",
        "tel (11) 98765-4322",
    ):
        assert not found.search(text), text


def test_redaction_keeps_length_and_json_shape() -> None:
    s = Subject.parse("ana.lu@example.com", None, "52998224725").with_names(["Ana Luiza Prado"])
    r = Redactor(s)
    text = "Ana Luiza Prado (ana.lu@example.com, CPF 529.982.247-25) comprou."
    out = r.text(text)
    assert len(out) == len(text)
    assert "Prado" not in out and "example" not in out and "247" not in out and out.endswith(") comprou.")
    doc = {"a": [text, 3, None], "Ana Luiza Prado": {"k": "ok"}}
    masked = r.json(doc)
    assert isinstance(masked, dict) and masked["a"][1:] == [3, None] and "Ana Luiza Prado" not in str(masked)
    assert r.json(b"ana.lu@example.com") == b"[removido]********"
    assert r.json(b"\xff\xfe") == b"\xff\xfe"


def test_aliases_from_records_join_the_needles_not_the_given_identifiers() -> None:
    s = Subject.parse(None, None, "52998224725")
    s = s.with_alias("email", "Maria@Example.com").with_alias("phone", "not a phone").with_alias("cpf", "52998224725")
    assert s.aliases == (("email", "maria@example.com"),)
    assert s.identifiers_only().aliases == s.aliases and s.identifiers_only().names == ()
    assert re.search(s.needle_regex(), "maria@example.com")
    key = b"k" * 32
    assert len(s.hashes(key)) == 2 and s.hashes(key) != s.hashes(b"x" * 32)
    assert Subject.from_json(s.to_json()) == s


def test_run_stream_key_matches_the_agents_buffer() -> None:
    tenant, run = uuid.uuid4(), uuid.uuid4()
    assert run_stream_key(tenant, run) == RunEventBuffer.key(tenant, run)


def test_registry_placeholders_are_known_and_typed() -> None:
    params = dict.fromkeys(_TYPES, None)
    for entry in REGISTRY:
        sql, args = _compile(entry.find_sql(), params)
        assert "{" not in sql.replace("'{}'", ""), (entry.table, sql)
        assert len(args) == len(set(re.findall(r"\$(\d+)", sql))), entry.table
        assert entry.reason.strip(), entry.table
        assert entry.action in ("delete", "anonymise", "keep")
    assert len({e.table for e in REGISTRY}) == len(REGISTRY)
