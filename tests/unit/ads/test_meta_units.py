"""Meta connector units: CAPI normalisation and hashing, money at Meta's edge, error mapping."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from tools.ads import AdsAuthFailed, AdsPlatformError, AdsRateLimited, AdsRequestRejected, ConversionEvent
from tools.ads.meta import capi
from tools.ads.meta.errors import parse_error, regain_after_s, to_ads_error
from tools.ads.meta.money import budget_from_meta, budget_to_meta, decimal_to_minor, minor_to_str


def sha(v: str) -> str:
    return hashlib.sha256(v.encode()).hexdigest()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Maria.Silva@Example.COM ", "maria.silva@example.com"),
        ("a+b@sub.example.com.br", "a+b@sub.example.com.br"),
        ("not an e-mail", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert capi.normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 (11) 98765-4321", "5511987654321"),
        ("0055 11 98765 4321", "5511987654321"),
        ("5511987654321", "5511987654321"),
        ("11987654321", "5511987654321"),  # national number: the default country code is added
        ("(11) 3456-7890", "551134567890"),
        ("+1 650-555-1234", "16505551234"),
        ("ramal 12", None),
        (None, None),
    ],
)
def test_normalize_phone_digits_with_country_code(raw: str | None, expected: str | None) -> None:
    assert capi.normalize_phone(raw) == expected


def test_hashes_are_sha256_of_the_normalised_value_and_hashes_pass_through() -> None:
    assert capi.hash_email(" JOHN@Example.com") == sha("john@example.com")
    assert capi.hash_phone("+55 11 98765-4321") == sha("5511987654321")
    already = sha("john@example.com")
    assert capi.hash_email(already.upper()) == already
    assert capi.hash_external_id(" lead-42 ") == sha("lead-42")
    assert capi.normalize_phone("11987654321", default_country_code=None) == "11987654321"


def test_fbc_format() -> None:
    assert capi.fbc_from_fbclid("IwAR2F4", 1554763741205) == "fb.1.1554763741205.IwAR2F4"
    assert capi.fbc_from_fbclid("fb.1.1554763741205.IwAR2F4", 1) == "fb.1.1554763741205.IwAR2F4"


def test_server_event_has_no_clear_identifiers() -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    ev = ConversionEvent(
        event_id="pay-9",
        kind="purchase",
        occurred_at=at,
        value_minor=4_990,
        email="Ana@Loja.com.br",
        phone="+55 21 99999-0000",
        external_id="lead-1",
    )
    body = capi.server_event(ev)
    blob = json.dumps(body)
    assert "ana@" not in blob.lower() and "99999" not in blob and "lead-1" not in blob
    assert body["event_name"] == "Purchase" and body["event_time"] == int(at.timestamp())
    assert body["action_source"] == "system_generated" and body["event_id"] == "pay-9"
    assert body["custom_data"] == {"value": 49.9, "currency": "BRL"}
    assert body["user_data"]["ph"] == [sha("5521999990000")]


def test_ctwa_event_goes_as_business_messaging_only_with_a_waba() -> None:
    ev = ConversionEvent(
        event_id="l-1", kind="lead", occurred_at=datetime.now(UTC), click_id="ctwa123", click_id_kind="ctwa_clid"
    )
    bm = capi.server_event(ev, waba_id="102290129340398")
    assert (bm["event_name"], bm["action_source"], bm["messaging_channel"]) == (
        "LeadSubmitted",
        "business_messaging",
        "whatsapp",
    )
    assert bm["user_data"] == {"ctwa_clid": "ctwa123", "whatsapp_business_account_id": "102290129340398"}
    assert "custom_data" not in bm  # a lead without value carries no money
    plain = capi.server_event(ev)  # no WhatsApp Business Account configured
    assert plain["event_name"] == "Lead" and "ctwa_clid" not in plain["user_data"]
    assert not capi.has_identifier(plain)


def test_money_at_the_edge() -> None:
    assert decimal_to_minor("12.34", "BRL") == 1234
    assert decimal_to_minor("12.345", "BRL") == 1235
    assert decimal_to_minor("1500", "JPY") == 1500
    assert decimal_to_minor(None, "BRL") == 0
    assert minor_to_str(15_990, "BRL") == "159.90"
    assert budget_to_meta(5_000, "BRL") == 5_000  # centavos both sides
    assert budget_to_meta(10_000, "HUF") == 100  # ISO minor (fillér) → Meta offset 1 (forint)
    assert budget_from_meta("100", "HUF") == 10_000
    assert budget_from_meta(None, "BRL") is None
    with pytest.raises(ValueError, match="decimal"):
        decimal_to_minor("R$ 10", "BRL")


def _err(code: int, **extra: object) -> dict[str, object]:
    return {"error": {"message": "m", "type": "OAuthException", "code": code, "fbtrace_id": "A1", **extra}}


def test_token_errors_are_auth_failed() -> None:
    err = to_ads_error(400, _err(190, error_subcode=463), {})
    assert isinstance(err, AdsAuthFailed) and err.provider_code == "190/463" and err.status == 409


def test_invalid_parameter_is_request_rejected_with_meta_details() -> None:
    err = to_ads_error(400, _err(100, error_subcode=1885621, error_user_msg="Orçamento muito baixo"), {})
    assert isinstance(err, AdsRequestRejected) and err.status == 422
    assert err.provider_code == "100/1885621" and "Orçamento muito baixo" in err.message
    assert err.details["fbtrace_id"] == "A1"


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80004, 80014])
def test_throttling_codes_are_rate_limited(code: int) -> None:
    buc = {"123": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 3}]}
    err = to_ads_error(400, _err(code), {"x-business-use-case-usage": json.dumps(buc)})
    assert isinstance(err, AdsRateLimited) and err.retriable
    assert err.retry_after_s == 180.0 and err.provider_code == str(code)
    assert err.details["usage"]["x-business-use-case-usage"] == buc


def test_retry_after_wins_and_bad_headers_are_ignored() -> None:
    assert regain_after_s({"retry-after": "12", "x-business-use-case-usage": "{}"}) == 12.0
    assert regain_after_s({"x-business-use-case-usage": "not json"}) is None
    assert regain_after_s({}) is None


def test_server_side_failures_are_retriable_platform_errors() -> None:
    transient = to_ads_error(500, _err(2, is_transient=True), {})
    assert type(transient) is AdsPlatformError and transient.retriable and transient.provider_code == "2"
    bare = to_ads_error(502, None, {})
    assert type(bare) is AdsPlatformError and bare.retriable and bare.http_status == 502
    throttled = to_ads_error(429, None, {"retry-after": "5"})
    assert isinstance(throttled, AdsRateLimited) and throttled.retry_after_s == 5.0
    assert isinstance(to_ads_error(404, None, {}), AdsRequestRejected)


def test_parse_error_tolerates_odd_bodies() -> None:
    assert parse_error(["x"]) is None and parse_error({"error": "x"}) is None
    parsed = parse_error({"error": {"code": "613", "error_subcode": "1487742", "message": "too many"}})
    assert parsed is not None and parsed.code == 613 and parsed.subcode == 1487742
