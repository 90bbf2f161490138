"""Money at the Google Ads edge: account-currency minor units <-> micros, exactly.

Google Ads expresses money in micros of the account currency (``amount_micros``,
``cost_micros``: 1 unit = 1,000,000 micros), as int64 that the REST/JSON mapping renders
as strings. Tridium keeps minor units (centavos for BRL), so for BRL one centavo is
10,000 micros. Conversions are integer arithmetic only: minor -> micros always is exact;
micros -> minor raises ``NonIntegerMinorUnits`` when the micros are not a whole number of
minor units (a budget of 1,234,567 micros BRL is refused, never rounded). Reported cost
is the exception and goes through ``cost_micros_to_minor``, which rounds half-even,
because Google bills fractions of a centavo and a report must still be read.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MICROS_PER_UNIT = 1_000_000

# ISO 4217 minor-unit exponents that differ from 2 (and that an ad account may use).
_EXPONENTS: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "PYG": 0,
    "VND": 0,
    "ISK": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "JOD": 3,
}


class NonIntegerMinorUnits(ValueError):
    """An amount in micros that is not a whole number of the currency's minor units."""


def minor_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def micros_per_minor(currency: str) -> int:
    return int(MICROS_PER_UNIT // 10 ** minor_exponent(currency))


def minor_to_micros(amount_minor: int, currency: str) -> int:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"minor units must be an int, got {type(amount_minor).__name__}")
    return amount_minor * micros_per_minor(currency)


def micros_to_minor(amount_micros: int | str, currency: str) -> int:
    """Exact: raises ``NonIntegerMinorUnits`` instead of rounding."""
    micros = _as_int(amount_micros)
    step = micros_per_minor(currency)
    minor, rest = divmod(micros, step)
    if rest:
        raise NonIntegerMinorUnits(
            f"{micros} micros is not a whole number of {currency} minor units ({step} micros each)"
        )
    return minor


def cost_micros_to_minor(amount_micros: int | str, currency: str) -> int:
    """Reported cost: rounded half-even to the minor unit (Google bills sub-centavo amounts)."""
    micros = Decimal(_as_int(amount_micros))
    return int((micros / micros_per_minor(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def value_to_minor(value: float | int | str, currency: str) -> int:
    """A conversion value in currency units (a JSON double) -> minor units, half-even."""
    units = Decimal(str(value))
    return int((units * 10 ** minor_exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def minor_to_value(amount_minor: int, currency: str) -> float:
    """Minor units -> currency units for ``conversionValue`` (a double on the wire)."""
    return float(Decimal(amount_minor) / 10 ** minor_exponent(currency))


def _as_int(value: int | str) -> int:
    if isinstance(value, bool):
        raise TypeError("micros must be an integer")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(f"micros must be an integer, got {value!r}")
    return int(text)


__all__ = [
    "MICROS_PER_UNIT",
    "NonIntegerMinorUnits",
    "cost_micros_to_minor",
    "micros_per_minor",
    "micros_to_minor",
    "minor_exponent",
    "minor_to_micros",
    "minor_to_value",
    "value_to_minor",
]
