"""Find and mask Brazilian personal data: CPF, CNPJ, phone numbers, e-mail addresses and
payment card numbers.

Masking is optional per tenant and happens between parsing and chunking, so what is
embedded, stored and shown to agents never holds the raw values. Detection leans towards
precision where the cost of a miss is low and towards recall where it is high:

* CPF and CNPJ are only masked when their check digits are valid: an invalid number is
  not a document number (it is a typo, an order id, a price table), and masking it would
  destroy content. Both the punctuated and the bare-digit forms are found, and CNPJs in
  the alphanumeric format (from July 2026) are checked with the same algorithm.
* Phones need a valid DDD (area code) and the shape of a Brazilian subscriber number
  (mobile ``9xxxx-xxxx`` or landline ``[2-5]xxx-xxxx``), with or without ``+55``, brackets,
  spaces, dots or dashes. A mobile number written without DDD (``98765-4321``) is found
  too; a landline without DDD (``3090-4455``) is not, because 8 digits with a dash are too
  often something else.
* E-mail addresses use a practical ASCII pattern (what appears in the wild, not RFC 5322).
* Card numbers (PAN) are 13 to 19 digits, bare or grouped by spaces or dashes (4-4-4-4…,
  or 4-6-5 / 4-6-4 for Amex and Diners), starting with 3, 4, 5 or 6 (the issuer ranges of
  Amex, Diners, JCB, Visa, Elo, Mastercard, Hipercard and Discover) and passing the Luhn
  check; 16 digits that fail Luhn are an order number, not a card.

``evaluate_pii`` measures precision and recall against a gold file by parsing the real
documents with the real parsers, so the number includes extraction errors (OCR, tables).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.parsing.model import ParsedDocument


class PiiKind(StrEnum):
    CPF = "cpf"
    CNPJ = "cnpj"
    PHONE = "phone"
    EMAIL = "email"
    CARD = "card"


MASK_TOKENS: dict[PiiKind, str] = {
    PiiKind.CPF: "[CPF]",
    PiiKind.CNPJ: "[CNPJ]",
    PiiKind.PHONE: "[TELEFONE]",
    PiiKind.EMAIL: "[EMAIL]",
    PiiKind.CARD: "[CARTAO]",
}
ALL_KINDS: frozenset[PiiKind] = frozenset(PiiKind)

# Not glued to a word or to a longer number on either side ("12.345" in "112.345.678-90").
_START = r"(?<![0-9A-Za-z])(?<![0-9A-Za-z][./-])"
_END = r"(?![0-9A-Za-z]|[./-][0-9A-Za-z])"
_CPF = re.compile(_START + r"(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{9}-?\d{2})" + _END)
_CNPJ = re.compile(
    _START + r"(?:[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2}|\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2})" + _END
)
_CARD = re.compile(_START + r"(?:\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{4,5})" + _END)
_SEP = r"[ \t.-]?"
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+])(?<![0-9][./-])"
    r"(?:"
    r"(?P<cc>(?:\+|00)[ \t]?55[ \t.-]?)?"
    r"(?:\([ \t]?0?(?P<ddd1>\d{2})[ \t]?\)|0?(?P<ddd2>\d{2}))"
    + _SEP
    + r"(?:9[ \t.]?\d{4}|[2-5]\d{3})"
    + _SEP
    + r"\d{4}"
    r"|"
    r"9\d{4}-\d{4}"  # mobile without DDD: the leading 9 and the dash make it unambiguous
    r")" + _END
)
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

# Area codes in use (ANATEL); "20" or "37" are not DDDs, so "2024 1234 5678" is no phone.
_DDDS = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47}
    | {48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86}
    | {87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99}
)
# Kinds listed first win when two findings overlap: a valid CPF is more specific than
# "11 digits that could be a phone".
_PRIORITY = {PiiKind.CNPJ: 0, PiiKind.CPF: 1, PiiKind.CARD: 2, PiiKind.EMAIL: 3, PiiKind.PHONE: 4}


def _alnum(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum())


def cpf_is_valid(value: str) -> bool:
    """Check a CPF's two check digits (mod 11). Punctuation is ignored."""
    digits = _alnum(value)
    if len(digits) != 11 or not digits.isdigit() or digits == digits[0] * 11:
        return False
    for size in (9, 10):
        total = sum(int(d) * weight for d, weight in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        if (total * 10) % 11 % 10 != int(digits[size]):
            return False
    return True


def cnpj_is_valid(value: str) -> bool:
    """Check a CNPJ's two check digits, numeric or alphanumeric (value of a char = ord - 48)."""
    chars = _alnum(value).upper()
    if len(chars) != 14 or not chars[-2:].isdigit() or chars == chars[0] * 14:
        return False
    for size in (12, 13):
        weights = [*range(size - 7, 1, -1), *range(9, 1, -1)]
        total = sum((ord(ch) - 48) * w for ch, w in zip(chars[:size], weights, strict=True))
        remainder = total % 11
        if (0 if remainder < 2 else 11 - remainder) != int(chars[size]):
            return False
    return True


def luhn_is_valid(value: str) -> bool:
    """The Luhn (mod 10) check of a card number. Spaces and dashes are ignored."""
    digits = [int(ch) for ch in value if ch.isdigit()]
    if not digits:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def card_is_plausible(value: str) -> bool:
    """13 to 19 digits, an issuer range that cards use (3, 4, 5, 6), and a valid Luhn digit."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return (
        13 <= len(digits) <= 19 and digits[0] in "3456" and digits != digits[0] * len(digits) and luhn_is_valid(digits)
    )


def _phone_is_plausible(match: re.Match[str]) -> bool:
    ddd = match.group("ddd1") or match.group("ddd2")
    return ddd is None or int(ddd) in _DDDS


@dataclass(frozen=True, slots=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    value: str


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    matches: tuple[PiiMatch, ...]


def find_pii(text: str, kinds: Iterable[PiiKind] = ALL_KINDS) -> list[PiiMatch]:
    """All PII findings in ``text``, non-overlapping, in order of position."""
    wanted = frozenset(kinds)
    found: list[PiiMatch] = []
    if PiiKind.CPF in wanted:
        found += [PiiMatch(PiiKind.CPF, m.start(), m.end(), m.group()) for m in _CPF.finditer(text)]
        found = [f for f in found if f.kind is not PiiKind.CPF or cpf_is_valid(f.value)]
    if PiiKind.CNPJ in wanted:
        found += [
            PiiMatch(PiiKind.CNPJ, m.start(), m.end(), m.group())
            for m in _CNPJ.finditer(text)
            if cnpj_is_valid(m.group())
        ]
    if PiiKind.CARD in wanted:
        found += [
            PiiMatch(PiiKind.CARD, m.start(), m.end(), m.group())
            for m in _CARD.finditer(text)
            if card_is_plausible(m.group())
        ]
    if PiiKind.EMAIL in wanted:
        found += [PiiMatch(PiiKind.EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    if PiiKind.PHONE in wanted:
        found += [
            PiiMatch(PiiKind.PHONE, m.start(), m.end(), m.group())
            for m in _PHONE.finditer(text)
            if _phone_is_plausible(m)
        ]
    found.sort(key=lambda f: (_PRIORITY[f.kind], f.start))
    chosen: list[PiiMatch] = []
    for candidate in found:  # higher priority first, so it keeps its span
        if all(candidate.end <= c.start or candidate.start >= c.end for c in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda f: f.start)


def mask_pii(text: str, kinds: Iterable[PiiKind] = ALL_KINDS) -> MaskResult:
    """Replace each finding with its token (``[CPF]``, ``[CNPJ]``, ``[TELEFONE]``, ``[EMAIL]``,
    ``[CARTAO]``)."""
    matches = find_pii(text, kinds)
    parts: list[str] = []
    cursor = 0
    for m in matches:
        parts += [text[cursor : m.start], MASK_TOKENS[m.kind]]
        cursor = m.end
    parts.append(text[cursor:])
    return MaskResult(text="".join(parts), matches=tuple(matches))


def mask_document(doc: ParsedDocument, kinds: Iterable[PiiKind] = ALL_KINDS) -> ParsedDocument:
    """Mask a parsed document, keeping every section's offsets true in the masked text."""
    wanted = frozenset(kinds)
    result = mask_pii(doc.text, wanted)
    if not result.matches:
        return doc
    ends = [m.end for m in result.matches]
    shifts: list[int] = []
    total = 0
    for m in result.matches:
        total += len(MASK_TOKENS[m.kind]) - (m.end - m.start)
        shifts.append(total)

    def moved(offset: int) -> int:
        # Matches never straddle a section edge (they hold no blank lines), so shifting by
        # the matches that end at or before the offset is exact.
        i = bisect_right(ends, offset)
        return offset + (shifts[i - 1] if i else 0)

    sections = tuple(
        replace(
            s,
            text=result.text[moved(s.char_start) : moved(s.char_end)],
            char_start=moved(s.char_start),
            char_end=moved(s.char_end),
            heading_path=tuple(mask_pii(h, wanted).text for h in s.heading_path),
        )
        for s in doc.sections
    )
    title = mask_pii(doc.title, wanted).text if doc.title else doc.title
    masked = replace(doc, text=result.text, sections=sections, title=title)
    masked.check()
    return masked


# --- evaluation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KindScore:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0


@dataclass(frozen=True, slots=True)
class PiiEvaluation:
    scores: dict[PiiKind, KindScore]
    false_positives: tuple[tuple[str, PiiKind, str], ...] = field(default=())
    false_negatives: tuple[tuple[str, PiiKind, str], ...] = field(default=())
    documents: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        lines = [f"{k.value:6} precision {s.precision:.3f} recall {s.recall:.3f}" for k, s in self.scores.items()]
        return "\n".join(lines)


def _norm(value: str) -> str:
    return " ".join(value.split())


def evaluate_pii(gold_path: str | Path, *, documents: Sequence[str | Path] | None = None) -> PiiEvaluation:
    """Score :func:`find_pii` on the documents a gold JSONL file describes.

    The gold file has one ``{"file", "kind", "value"}`` per distinct value and file, with
    ``file`` relative to the gold file's folder. Every document in the ``docs/`` folder next
    to it is parsed with the production parsers (OCR included) and scanned, so a value
    found in a document without gold entries counts as a false positive. Findings are
    compared as (file, kind, value) sets, the way the gold file is written.
    """
    from knowledge.parsing import parse_document  # parsing pulls native libraries: load on use

    gold_path = Path(gold_path)
    base = gold_path.parent
    gold: set[tuple[str, PiiKind, str]] = set()
    for line in gold_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            gold.add((str(row["file"]), PiiKind(row["kind"]), _norm(str(row["value"]))))
    if documents is None:
        files = {f for f, _, _ in gold} | {
            p.relative_to(base).as_posix() for p in sorted((base / "docs").glob("*")) if p.is_file()
        }
    else:
        files = {Path(d).as_posix() for d in documents}
    predicted: set[tuple[str, PiiKind, str]] = set()
    for name in sorted(files):
        document = parse_document((base / name).read_bytes(), filename=name)
        predicted |= {(name, m.kind, _norm(m.value)) for m in find_pii(document.text)}
    scores = {
        kind: KindScore(
            true_positives=len({g for g in gold & predicted if g[1] is kind}),
            false_positives=len({p for p in predicted - gold if p[1] is kind}),
            false_negatives=len({g for g in gold - predicted if g[1] is kind}),
        )
        for kind in PiiKind
    }
    return PiiEvaluation(
        scores=scores,
        false_positives=tuple(sorted(predicted - gold)),
        false_negatives=tuple(sorted(gold - predicted)),
        documents=tuple(sorted(files)),
    )


__all__ = [
    "ALL_KINDS",
    "card_is_plausible",
    "luhn_is_valid",
    "MASK_TOKENS",
    "KindScore",
    "MaskResult",
    "PiiEvaluation",
    "PiiKind",
    "PiiMatch",
    "cnpj_is_valid",
    "cpf_is_valid",
    "evaluate_pii",
    "find_pii",
    "mask_document",
    "mask_pii",
]
