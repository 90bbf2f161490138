"""TikTok wire protocol without a network: envelope → error mapping, money conversion, hashing."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from tools.ads import AdsAuthFailed, AdsPlatformError, AdsRateLimited, AdsRequestRejected
from tools.ads.tiktok import protocol as p


def env(code: object, message: str = "m") -> dict[str, object]:
    return {"code": code, "message": message, "request_id": "2026031012000012AB", "data": {}}


def test_code_zero_is_success() -> None:
    assert p.error_for("campaign/get/", env(0)) is None


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (40002, AdsRequestRejected),
        (40000, AdsRequestRejected),
        (40007, AdsRequestRejected),
        (40001, AdsAuthFailed),
        (40102, AdsAuthFailed),
        (40104, AdsAuthFailed),
        (40105, AdsAuthFailed),
        (40100, AdsRateLimited),
        (40700, AdsPlatformError),
        (50000, AdsPlatformError),
        (51021, AdsPlatformError),
    ],
)
def test_codes_map_onto_the_error_tree(code: int, kind: type[Exception]) -> None:
    error = p.error_for("campaign/create/", env(code, "why"))
    assert type(error) is kind
    assert getattr(error, "provider_code", None) == str(code)
    assert "why" in str(error) and "campaign/create/" in str(error)


def test_retriable_only_where_safe() -> None:
    rate = p.error_for("x/", env(40100))
    internal = p.error_for("x/", env(50000))
    other = p.error_for("x/", env(12345))
    assert isinstance(rate, AdsRateLimited) and rate.retriable and rate.retry_after_s is None
    assert isinstance(internal, AdsPlatformError) and internal.retriable
    assert isinstance(other, AdsPlatformError) and not other.retriable
    assert isinstance(p.error_for("x/", env("40100")), AdsRateLimited)  # a code as a string


def test_an_envelope_without_a_code_is_a_platform_error() -> None:
    error = p.error_for("x/", {"message": "?"}, http_status=200)
    assert isinstance(error, AdsPlatformError) and not error.retriable


def test_details_carry_the_request_id() -> None:
    error = p.error_for("x/", env(40002))
    assert isinstance(error, AdsRequestRejected)
    assert error.details["request_id"] == "2026031012000012AB"


@pytest.mark.parametrize(
    ("minor", "currency", "units"),
    [(12_345, "BRL", Decimal("123.45")), (5_000, "USD", Decimal("50.00")), (1, "BRL", Decimal("0.01")),
     (5_000, "JPY", Decimal(5000)), (1_234, "KWD", Decimal("1.234"))],
)  # fmt: skip
def test_minor_units_round_trip_exactly(minor: int, currency: str, units: Decimal) -> None:
    assert p.to_units(minor, currency) == units
    assert p.to_minor(units, currency) == minor
    assert p.to_minor(str(units), currency) == minor
    assert p.to_minor(p.units_json(units), currency) == minor


def test_fractional_centavos_are_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match="fraction"):
        p.to_minor("10.005", "BRL")
    with pytest.raises(ValueError, match="fraction"):
        p.to_minor(0.1 + 0.2, "BRL")  # 0.30000000000000004
    with pytest.raises(ValueError):
        p.to_minor("-", "BRL")
    with pytest.raises(ValueError):
        p.to_minor("NaN", "BRL")
    with pytest.raises(TypeError):
        p.to_units(1.5, "BRL")  # type: ignore[arg-type]
    assert p.to_minor("200.10", "BRL") == 20_010 and p.to_minor(50, "BRL") == 5_000


def test_budget_json_numbers_are_exact() -> None:
    assert p.units_json(Decimal("200.01")) == 200.01
    assert p.units_json(Decimal("25.50")) == 25.5
    with pytest.raises(ValueError):
        p.units_json(Decimal("0.1000000000000000000001"))


def test_hashing_normalises_then_sha256() -> None:
    def sha(v: str) -> str:
        return hashlib.sha256(v.encode()).hexdigest()

    assert p.hash_email("  Maria@Example.COM ") == sha("maria@example.com")
    assert p.hash_phone("+55 (11) 98765-4321") == sha("+5511987654321")
    assert p.hash_phone("5511987654321") == sha("+5511987654321")
    assert p.hash_external_id(" lead-1 ") == sha("lead-1")
    assert p.is_sha256_hex(p.hash_email("a@b.c"))
    assert not p.is_sha256_hex("a@b.c") and not p.is_sha256_hex(sha("x").upper())
    with pytest.raises(ValueError):
        p.normalise_phone("no digits")
