"""Card approval as Asaas's sandbox does it (reference §8.5).

The documented decline numbers are checked first, then the documented approve number
(``4444 4444 4444 4444`` fails Luhn yet is approved), then Luhn and expiry.
"""

from __future__ import annotations

from datetime import date

DECLINE_NUMBERS = frozenset({"5184019740373151", "4916561358240741"})
APPROVE_NUMBERS = frozenset({"4444444444444444"})
DECLINE_DESCRIPTION = "Transação não autorizada. Verifique os dados do cartão de crédito e tente novamente."


def digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return len(number) >= 12 and total % 10 == 0


def brand(number: str) -> str:
    """Rough BIN → brand, enough for ``creditCardBrand``."""
    two, four = int(number[:2] or 0), int(number[:4] or 0)
    if number.startswith(("4011", "4389", "4514", "5041", "5067", "5090", "6277", "6363", "6504")):
        return "ELO"
    if number.startswith("4"):
        return "VISA"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "MASTERCARD"
    if two in (34, 37):
        return "AMEX"
    if two in (36, 38) or 300 <= int(number[:3] or 0) <= 305:
        return "DINERS"
    if number.startswith(("6011", "65")):
        return "DISCOVER"
    if two == 35:
        return "JCB"
    return "UNKNOWN"


def approves(number: str, expiry_month: str, expiry_year: str, today: date) -> bool:
    """True when Asaas's sandbox would authorise this card."""
    number = digits(number)
    if number in DECLINE_NUMBERS:
        return False
    if number in APPROVE_NUMBERS:
        return True
    try:
        month, year = int(expiry_month), int(expiry_year)
    except ValueError:
        return False
    if year < 100:
        year += 2000
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        return False
    return luhn_ok(number)


__all__ = ["DECLINE_DESCRIPTION", "approves", "brand", "digits", "luhn_ok"]
