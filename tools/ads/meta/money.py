"""Money at Meta's edge: budgets in the account currency's "offset" units, insights in decimals.

Verified (Meta Marketing API reference for Campaign/Ad Set ``daily_budget`` and the
"Currencies" page, as quoted by the public projects found through ``search``): budgets
are integers in the currency's *basic unit* with a per-currency offset — 100 for BRL/USD/EUR
(centavos/cents), 1 for currencies without minor units (JPY, KRW, CLP, …). Insights return
``spend`` (and ``action_values``, ``cost_per_action_type``) as decimal strings in currency
units (``"12.34"``). Our models keep ``int`` minor units, so for offset-100 currencies the
budget passes through unchanged and only insights need converting.

Our minor units follow ISO 4217 exponents (2 for BRL; 0 for JPY, CLP, KRW…), so where
Meta's offset and the ISO exponent differ (HUF, TWD, COP, IDR, CRC: ISO 2, Meta offset 1)
``budget_to_meta``/``budget_from_meta`` convert; for BRL they are the identity.

Assumed: the offset-1 list below (Meta's page lists a few more; an unknown currency is
treated as offset 100, which is right for most ISO 4217 currencies with two decimals).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

OFFSET_ONE = frozenset({"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"})


ISO_ZERO_DECIMALS = frozenset({"CLP", "ISK", "JPY", "KRW", "PYG", "VND", "UGX", "XAF", "XOF"})


def offset(currency: str) -> int:
    """Meta's currency offset: how many budget units make one currency unit."""
    return 1 if currency.upper() in OFFSET_ONE else 100


def minor_per_unit(currency: str) -> int:
    """ISO 4217: how many of our minor units make one currency unit."""
    return 1 if currency.upper() in ISO_ZERO_DECIMALS else 100


def budget_to_meta(minor: int, currency: str) -> int:
    return minor * offset(currency) // minor_per_unit(currency)


def budget_from_meta(value: object, currency: str) -> int | None:
    if value is None or value == "":
        return None
    return int(str(value)) * minor_per_unit(currency) // offset(currency)


def decimal_to_minor(value: object, currency: str) -> int:
    """``"12.34"`` (currency units, as Meta's insights give it) → ``1234`` minor units."""
    if value is None or value == "":
        return 0
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    return int((amount * minor_per_unit(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    """``1234`` minor units → ``Decimal("12.34")`` (CAPI ``custom_data.value``)."""
    off = minor_per_unit(currency)
    return (Decimal(minor) / off).quantize(Decimal(1) if off == 1 else Decimal("0.01"))


def minor_to_str(minor: int, currency: str) -> str:
    return str(minor_to_decimal(minor, currency))


__all__ = [
    "ISO_ZERO_DECIMALS",
    "OFFSET_ONE",
    "budget_from_meta",
    "budget_to_meta",
    "decimal_to_minor",
    "minor_per_unit",
    "minor_to_decimal",
    "minor_to_str",
    "offset",
]
