"""A data subject's identifiers: normalisation, validation, and the patterns that find them.

* e-mail: syntax checked by ``email-validator`` (no DNS), the whole address lower-cased
  (the local part is case-sensitive in theory, never in practice at the providers our
  tenants' customers use; lower-casing is what makes ``Maria@X`` and ``maria@x`` one person).
* phone: E.164. Without a ``+`` the number is read as Brazilian (assumed default: the
  product serves Brazilian businesses): 10 digits (DDD + landline) or 11 (DDD + 9 + mobile),
  an optional trunk ``0`` and carrier code (``0 XX``) dropped. With ``+55`` the national part
  must be 10 or 11 digits with a valid DDD (11-99); other countries: 8 to 15 digits (E.164).
* CPF: 11 digits with both check digits valid (Receita Federal's modulo-11 rule); repeated
  digits (``111.111.111-11``) are refused, as the Receita does.

A :class:`Subject` also yields the *needles* used to find the person in free text (messages,
documents, event payloads): the e-mail, the phone's national digits with any punctuation
between them, the CPF with or without its dots and dash, and the full names of the leads
that matched. Each needle is one regular expression usable both by PostgreSQL (``~*``,
advanced regex syntax) and by Python's ``re`` (for the length-preserving redaction).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from core.errors import ValidationFailed

_DIGITS = re.compile(r"\D")
# Characters that may separate the digits of a phone or CPF written by a person.
_PHONE_SEP = r"[ ().+-]{0,3}"
_CPF_SEP = r"[ .-]{0,2}"
MIN_NAME_CHARS = 6  # a one-word name ("Ana") would redact strangers: full names only


def _invalid(field_name: str, msg: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name} is not valid: {msg}", details=[{"loc": ["body", "subject", field_name], "msg": msg}]
    )


def normalize_email(value: str) -> str:
    try:
        info = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise _invalid("email", str(exc)) from exc
    return info.normalized.lower()


def normalize_phone(value: str) -> str:
    """E.164 (``+5511999990000``); Brazilian when no country code is given."""
    raw = value.strip()
    if not re.fullmatch(r"[0-9 ().+-]{8,30}", raw) or raw.count("+") > 1 or ("+" in raw and not raw.startswith("+")):
        raise _invalid("phone", "expected digits with optional spaces, dots, dashes, parentheses and a leading +")
    digits = _DIGITS.sub("", raw)
    if raw.startswith("+"):
        if digits.startswith("55"):
            national = digits[2:]
        elif 8 <= len(digits) <= 15 and not digits.startswith("0"):
            return "+" + digits
        else:
            raise _invalid("phone", "an E.164 number has 8 to 15 digits and no leading 0")
    else:
        national = digits
        if national.startswith("0") and len(national) in (11, 12):  # trunk 0 before the DDD
            national = national[1:]
        elif national.startswith("0") and len(national) in (13, 14):  # 0 + carrier code + DDD
            national = national[3:]
        elif national.startswith("55") and len(national) in (12, 13):
            national = national[2:]
    if len(national) not in (10, 11) or not 11 <= int(national[:2]) <= 99:
        raise _invalid("phone", "a Brazilian number has a DDD (11-99) and 8 or 9 digits")
    if len(national) == 11 and national[2] != "9":
        raise _invalid("phone", "an 11-digit Brazilian number is a mobile and starts with 9 after the DDD")
    return "+55" + national


def cpf_is_valid(digits: str) -> bool:
    if not re.fullmatch(r"\d{11}", digits) or len(set(digits)) == 1:
        return False
    for n in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:n], range(n + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != int(digits[n]):
            return False
    return True


def normalize_cpf(value: str) -> str:
    raw = value.strip()
    if not re.fullmatch(r"[0-9 .-]{11,18}", raw):
        raise _invalid("cpf", "expected 11 digits, optionally as 000.000.000-00")
    digits = _DIGITS.sub("", raw)
    if not cpf_is_valid(digits):
        raise _invalid("cpf", "the check digits do not match (not a CPF)")
    return digits


def _digit_pattern(digits: str, sep: str, prefix: str = "") -> str:
    # Lookarounds (PostgreSQL ≥ 9.6 and Python): digits glued to other digits are not it.
    return rf"(?<![0-9]){prefix}{sep.join(digits)}(?![0-9])"


def _literal(text: str) -> str:
    """A literal for both regex dialects: every non-alphanumeric character escaped."""
    return "".join(c if c.isalnum() or c == " " else "\\" + c for c in text)


@dataclass(frozen=True)
class Subject:
    """The normalised identifiers of one data subject (at least one is set)."""

    email: str | None = None
    phone: str | None = None
    cpf: str | None = None
    names: tuple[str, ...] = field(default=())
    # Other identifiers of the same person found on their records (a lead found by CPF
    # gives its e-mail and phone): ("email" | "phone" | "cpf", normalised value).
    aliases: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if not (self.email or self.phone or self.cpf):
            raise ValidationFailed(
                "identify the data subject by email, phone or cpf",
                details=[{"loc": ["body", "subject"], "msg": "at least one of email, phone, cpf"}],
            )

    @classmethod
    def parse(cls, email: str | None, phone: str | None, cpf: str | None) -> Subject:
        return cls(
            email=normalize_email(email) if email else None,
            phone=normalize_phone(phone) if phone else None,
            cpf=normalize_cpf(cpf) if cpf else None,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "email": self.email,
            "phone": self.phone,
            "cpf": self.cpf,
            "names": list(self.names),
            "aliases": [list(a) for a in self.aliases],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Subject:
        names = data.get("names") or []
        aliases = data.get("aliases") or []
        assert isinstance(names, list) and isinstance(aliases, list)
        return cls(
            email=_opt(data.get("email")),
            phone=_opt(data.get("phone")),
            cpf=_opt(data.get("cpf")),
            names=tuple(str(n) for n in names),
            aliases=tuple((str(k), str(v)) for k, v in aliases),
        )

    def identifiers_only(self) -> Subject:
        return Subject(self.email, self.phone, self.cpf, aliases=self.aliases)

    def with_names(self, names: Iterable[str]) -> Subject:
        usable = {" ".join(n.split()) for n in names if n and len(" ".join(n.split())) >= MIN_NAME_CHARS}
        usable = {n for n in usable if " " in n}  # full names only (a first name alone is too common)
        return Subject(self.email, self.phone, self.cpf, tuple(sorted(usable | set(self.names))), self.aliases)

    def with_alias(self, kind: str, raw: str) -> Subject:
        """Add another identifier found on the subject's record (ignored when not valid)."""
        normalise = {"email": normalize_email, "phone": normalize_phone, "cpf": normalize_cpf}[kind]
        try:
            value = normalise(raw)
        except ValidationFailed:
            return self
        if value == getattr(self, kind) or (kind, value) in self.aliases:
            return self
        return Subject(self.email, self.phone, self.cpf, self.names, tuple(sorted({*self.aliases, (kind, value)})))

    def _all(self) -> list[tuple[str, str]]:
        given = [(k, str(getattr(self, k))) for k in ("email", "phone", "cpf") if getattr(self, k)]
        return given + [a for a in self.aliases if a not in given]

    def values(self, kind: str) -> list[str]:
        """The given identifier of this kind first, then the aliases of that kind."""
        return [v for k, v in self._all() if k == kind]

    @property
    def kinds(self) -> list[str]:
        return [k for k in ("email", "phone", "cpf") if getattr(self, k)]

    @property
    def phone_national(self) -> str | None:
        return national_digits(self.phone) if self.phone else None

    def needles(self) -> list[str]:
        """Regular expressions (case-insensitive) that find this person in free text."""
        out: list[str] = []
        for kind, value in self._all():
            if kind == "email":
                out.append(_literal(value))
            elif kind == "phone":
                prefix = rf"(\+?{_PHONE_SEP}55{_PHONE_SEP})?" if value.startswith("+55") else ""
                out.append(_digit_pattern(national_digits(value), _PHONE_SEP, prefix))
            else:
                out.append(_digit_pattern(value, _CPF_SEP))
        out.extend(_literal(n).replace(" ", r"\s+") for n in self.names)
        return out

    def needle_regex(self) -> str:
        return "|".join(f"({n})" for n in self.needles())

    def hashes(self, key: bytes) -> list[str]:
        """HMAC-SHA256 of each identifier (aliases included): recognises the subject later
        without storing the identifiers."""
        return [hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest() for kind, value in self._all()]


def national_digits(e164: str) -> str:
    """The digits a person writes for this number: national for Brazil, else all."""
    return e164[3:] if e164.startswith("+55") else e164[1:]


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


class Redactor:
    """Length-preserving masking of a subject's identifiers in text and JSON.

    The same length keeps stored character offsets (document sections, chunk spans) valid.
    """

    MARK = "[removido]"

    def __init__(self, subject: Subject):
        self._re = re.compile(subject.needle_regex(), re.IGNORECASE)

    def _mask(self, m: re.Match[str]) -> str:
        n = len(m.group(0))
        return (self.MARK + "*" * n)[:n] if n >= len(self.MARK) else "*" * n

    def found(self, text: str) -> bool:
        return self._re.search(text) is not None

    def text(self, value: str) -> str:
        return self._re.sub(self._mask, value)

    def json(self, value: object) -> object:
        """Masks every string in a decoded JSON value (keys too); UTF-8 bytes are masked as text."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            try:
                return self.text(value.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                return value  # not text: nothing a pattern can find
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.json(v) for k, v in value.items()}
        return value


__all__ = [
    "Redactor",
    "Subject",
    "cpf_is_valid",
    "normalize_cpf",
    "normalize_email",
    "normalize_phone",
]
