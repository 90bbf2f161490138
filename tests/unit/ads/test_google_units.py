"""Google Ads pure pieces: micros, hashing, error mapping, the sandbox's GAQL subset."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from tools.ads import AdsAuthFailed, AdsPlatformError, AdsRateLimited, AdsRequestRejected
from tools.ads.google import (
    NonIntegerMinorUnits,
    cost_micros_to_minor,
    error_from_response,
    hashed_email,
    hashed_phone,
    micros_to_minor,
    minor_to_micros,
    normalize_email,
    normalize_phone,
    parse_status,
)
from tools.ads.google.sandbox import gaql
from tools.ads.google.units import minor_to_value, value_to_minor

# --- micros ------------------------------------------------------------------------------


def test_brl_minor_units_and_micros_are_exact() -> None:
    assert minor_to_micros(100, "BRL") == 1_000_000  # R$ 1,00
    assert minor_to_micros(1, "BRL") == 10_000  # 1 centavo
    assert micros_to_minor(50_500_000, "BRL") == 5_050
    assert micros_to_minor("120010000", "BRL") == 12_001  # int64 as a JSON string
    assert minor_to_micros(123, "JPY") == 123_000_000
    assert micros_to_minor(1_000, "KWD") == 1  # three decimals: 1 fils = 1,000 micros


@pytest.mark.parametrize("micros", [1_234_567, 5_000, "9999"])
def test_non_integer_minor_units_are_refused(micros: int | str) -> None:
    with pytest.raises(NonIntegerMinorUnits):
        micros_to_minor(micros, "BRL")


def test_minor_to_micros_refuses_non_ints() -> None:
    with pytest.raises(TypeError):
        minor_to_micros(10.5, "BRL")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        minor_to_micros(True, "BRL")


def test_reported_cost_rounds_half_even() -> None:
    assert cost_micros_to_minor("12345678", "BRL") == 1_235  # 1234.5678 centavos
    assert cost_micros_to_minor(15_000, "BRL") == 2  # 1.5 -> 2
    assert cost_micros_to_minor(25_000, "BRL") == 2  # 2.5 -> 2 (half-even)
    assert value_to_minor(129.9, "BRL") == 12_990
    assert minor_to_value(12_990, "BRL") == 129.9


# --- hashing -----------------------------------------------------------------------------


def test_email_normalisation() -> None:
    assert normalize_email("  Maria.Souza@Gmail.com ") == "mariasouza@gmail.com"
    assert normalize_email("j.silva@googlemail.com") == "jsilva@googlemail.com"
    assert normalize_email("Joao.Silva@empresa.com.br") == "joao.silva@empresa.com.br"  # dots kept elsewhere
    with pytest.raises(ValueError):
        normalize_email("not-an-email")


def test_phone_normalisation_and_hashes() -> None:
    assert normalize_phone("+55 (11) 98765-4321") == "+5511987654321"
    assert normalize_phone("5511987654321") == "+5511987654321"
    with pytest.raises(ValueError):
        normalize_phone("123")
    assert hashed_phone("5511987654321") == hashlib.sha256(b"+5511987654321").hexdigest()
    assert hashed_email("Ana@Example.com") == hashlib.sha256(b"ana@example.com").hexdigest()
    assert len(hashed_email("a@b.co")) == 64


# --- error mapping ---------------------------------------------------------------------------


def _failure(http: int, status: str, kind: str, reason: str, **extra: object) -> dict[str, object]:
    error: dict[str, object] = {"errorCode": {kind: reason}, "message": f"{reason} happened"}
    error.update(extra)
    return {
        "error": {
            "code": http,
            "message": "Request contains an invalid argument.",
            "status": status,
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    "errors": [error],
                    "requestId": "req-1",
                }
            ],
        }
    }


def test_quota_error_maps_to_rate_limited_with_retry_delay() -> None:
    body = _failure(
        429,
        "RESOURCE_EXHAUSTED",
        "quotaError",
        "RESOURCE_EXHAUSTED",
        details={"quotaErrorDetails": {"rateScope": "DEVELOPER", "retryDelay": "42s"}},
    )
    exc = error_from_response(429, body, where="POST x")
    assert isinstance(exc, AdsRateLimited)
    assert exc.retry_after_s == 42.0 and exc.retriable and exc.provider_code == "quotaError.RESOURCE_EXHAUSTED"


def test_rpc_retry_info_is_read_too() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "slow down",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}],
        }
    }
    exc = error_from_response(429, body, where="POST x")
    assert isinstance(exc, AdsRateLimited) and exc.retry_after_s == 2.5 and exc.provider_code == "RESOURCE_EXHAUSTED"


def test_auth_errors_map_to_auth_failed() -> None:
    exc = error_from_response(
        401, _failure(401, "UNAUTHENTICATED", "authenticationError", "OAUTH_TOKEN_EXPIRED"), where="x"
    )
    assert isinstance(exc, AdsAuthFailed) and exc.provider_code == "authenticationError.OAUTH_TOKEN_EXPIRED"
    exc = error_from_response(
        403, _failure(403, "PERMISSION_DENIED", "authorizationError", "USER_PERMISSION_DENIED"), where="x"
    )
    assert isinstance(exc, AdsAuthFailed)
    # a bare 401 from the front end, without GoogleAdsFailure details
    exc = error_from_response(401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad"}}, where="x")
    assert isinstance(exc, AdsAuthFailed) and exc.provider_code == "UNAUTHENTICATED"


def test_field_and_range_errors_map_to_rejected_with_index() -> None:
    body = _failure(
        400,
        "INVALID_ARGUMENT",
        "rangeError",
        "TOO_LOW",
        location={"fieldPathElements": [{"fieldName": "operations", "index": 3}, {"fieldName": "create"}]},
    )
    exc = error_from_response(400, body, where="x")
    assert isinstance(exc, AdsRequestRejected) and exc.provider_code == "rangeError.TOO_LOW"
    assert exc.details["errors"] == [{"code": "rangeError.TOO_LOW", "message": "TOO_LOW happened", "index": 3}]
    assert exc.details["request_id"] == "req-1"


def test_server_errors_are_retriable_platform_errors_and_stream_bodies_are_unwrapped() -> None:
    body = [_failure(503, "UNAVAILABLE", "internalError", "TRANSIENT_ERROR")]  # searchStream wraps errors in an array
    exc = error_from_response(503, body, where="x")
    assert type(exc) is AdsPlatformError and exc.retriable and exc.provider_code == "internalError.TRANSIENT_ERROR"
    exc = error_from_response(500, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}, where="x")
    assert type(exc) is AdsPlatformError and exc.retriable


def test_partial_failure_status_parses_per_index() -> None:
    pfe = {
        "code": 3,
        "message": "x",
        "details": _failure(
            400,
            "",
            "fieldError",
            "REQUIRED",
            location={"fieldPathElements": [{"fieldName": "conversions", "index": 1}]},
        )["error"]["details"],
    }  # type: ignore[index]
    st = parse_status(200, pfe)
    assert [(e.code, e.index) for e in st.errors] == [("fieldError.REQUIRED", 1)]


# --- GAQL subset -------------------------------------------------------------------------------


def test_gaql_parses_the_report_query() -> None:
    q = gaql.parse(
        "SELECT campaign.id, campaign.name, segments.date, metrics.impressions, metrics.clicks, "
        "metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM campaign "
        "WHERE segments.date BETWEEN '2026-01-01' AND '2026-01-31'"
    )
    assert q.resource == "campaign" and q.by_date
    assert (q.date_from, q.date_to) == (date(2026, 1, 1), date(2026, 1, 31))
    assert q.metrics[0] == "metrics.impressions" and len(q.fields) == 8


def test_gaql_equals_filters_and_case_insensitive_keywords() -> None:
    q = gaql.parse(
        "select ad_group.id, campaign.id from ad_group where campaign.id = 123 and ad_group.status = 'ENABLED'"
    )
    assert q.equals == (("campaign.id", 123), ("ad_group.status", "ENABLED"))
    q = gaql.parse("SELECT campaign.id FROM campaign WHERE campaign.status = PAUSED")
    assert q.equals == (("campaign.status", "PAUSED"),)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("campaign.id FROM campaign", "EXPECTED_SELECT"),
        ("SELECT campaign.id", "EXPECTED_FROM"),
        ("SELECT campaign.id FROM keyword_view", "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT metrics.bogus FROM campaign", "UNRECOGNIZED_FIELD"),
        ("SELECT ad_group.id FROM campaign", "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE"),
        ("SELECT campaign.id, segments.date FROM campaign", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        (
            "SELECT campaign.id FROM campaign WHERE segments.date BETWEEN '2026-1-1' AND '2026-01-31'",
            "INVALID_DATE_FORMAT",
        ),
        (
            "SELECT campaign.id FROM campaign WHERE segments.date BETWEEN '2026-02-01' AND '2026-01-31'",
            "INVALID_VALUE_WITH_BETWEEN_OPERATOR",
        ),
        ("SELECT campaign.id FROM campaign ORDER BY campaign.id", "UNEXPECTED_INPUT"),
        ("SELECT campaign.id FROM campaign WHERE campaign.id > 1", "UNEXPECTED_INPUT"),
        ("SELECT campaign.id FROM campaign WHERE campaign.id = 1 OR campaign.id = 2", "UNEXPECTED_INPUT"),
        ("SELECT campaign.id FROM campaign WHERE campaign.name = 'open", "STRING_NOT_TERMINATED"),
        ("SELECT campaign.id FROM campaign WHERE campaign.id =", "UNEXPECTED_END_OF_QUERY"),
        ("SELECT campaign.id FROM campaign LIMIT 10", "UNEXPECTED_INPUT"),
    ],
)
def test_gaql_rejects_what_it_does_not_support(query: str, reason: str) -> None:
    with pytest.raises(gaql.QueryError) as info:
        gaql.parse(query)
    assert info.value.reason == reason


def test_gaql_json_paths_are_camel_case() -> None:
    assert gaql.json_path("metrics.cost_micros") == ["metrics", "costMicros"]
    assert gaql.json_path("ad_group_ad.ad.id") == ["adGroupAd", "ad", "id"]
