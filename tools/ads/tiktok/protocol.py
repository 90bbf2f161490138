"""TikTok Marketing API v1.3 on the wire: the envelope, its return codes, money and hashing.

Pure functions (no I/O), shared by the connector (``client``) and unit-tested on their own.
What is verified and what is assumed is listed in ``tools.ads.tiktok.sandbox``'s module doc.

* Every answer is ``{"code", "message", "request_id", "data"}`` and the HTTP status is 200
  even for errors: ``code == 0`` is success, anything else is an error (``error_for``).
* Money: TikTok budgets are decimals in currency units (``50.00``); ours are ``int`` minor
  units. ``to_units``/``to_minor`` convert exactly with ``Decimal`` and refuse anything
  finer than the currency's minor unit (a fractional centavo is an error, never rounded).
* Identifiers for the Events API are SHA-256 hex of the normalised value (``hash_*``).
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import AdsAuthFailed, AdsPlatformError, AdsRateLimited, AdsRequestRejected

PLATFORM = "tiktok"
DEFAULT_BASE_URL = "https://business-api.tiktok.com"
API_PREFIX = "/open_api/v1.3/"

OK = 0
PARTIAL_SUCCESS = 20001  # Events API: some events of a batch were accepted
PERMISSION_DENIED = 40001
INVALID_PARAMETERS = 40002
RATE_LIMITED = 40100
ACCESS_TOKEN_EMPTY = 40104
ACCESS_TOKEN_INVALID = 40105
RETRY_LATER = 40700
INTERNAL_ERROR = 50000

# ISO 4217 exponents that are not 2 (everything else we meet is 2: BRL, USD, EUR, MXN, ...).
_EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "ISK": 0, "HUF": 2, "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_units(minor: int, currency: str) -> Decimal:
    """``12345`` centavos → ``Decimal("123.45")`` (exact)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError("money in minor units is an int")
    return Decimal(minor).scaleb(-exponent(currency))


def to_minor(units: Any, currency: str) -> int:
    """TikTok's ``budget``/``spend`` (number or string, currency units) → int minor units.

    Raises ``ValueError`` for a value that is not a number or has a fraction of the minor
    unit (``"10.005"`` BRL): money is never rounded silently."""
    try:
        value = units if isinstance(units, Decimal) else Decimal(str(units).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {units!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {units!r}")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{units!r} {currency} has a fraction of the minor unit")
    return int(scaled)


def units_json(value: Decimal) -> float:
    """A budget as the JSON number TikTok expects; refuses a value a float cannot carry exactly."""
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise ValueError(f"{value} cannot be sent exactly as a JSON number")
    return as_float


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- hashing (Events API user identifiers) ---------------------------------------------------

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """E.164 with its ``+`` (``+5511987654321``) from any spacing/punctuation."""
    digits = re.sub(r"\D", "", phone)
    if not digits:
        raise ValueError("a phone number needs digits")
    return "+" + digits


def hash_email(email: str) -> str:
    return sha256_hex(normalise_email(email))


def hash_phone(phone: str) -> str:
    return sha256_hex(normalise_phone(phone))


def hash_external_id(external_id: str) -> str:
    return sha256_hex(external_id.strip())


# --- the envelope -----------------------------------------------------------------------------


def error_for(
    operation: str, envelope: dict[str, Any], *, http_status: int = 200, retry_after_s: float | None = None
) -> Exception | None:
    """The ``tools.ads`` error for a TikTok envelope, or ``None`` when ``code`` is 0.

    * 40100 (QPS/QPM/QPD limit) → ``AdsRateLimited`` (retriable);
    * 40001 (no permission on that advertiser) and 401xx token codes (40104 empty token,
      40105 invalid/revoked token, 40102 expired, …) → ``AdsAuthFailed``: a person must
      re-provision the account;
    * other 4xxxx (40002 invalid parameters, unknown ids, a budget under the minimum, …)
      → ``AdsRequestRejected``;
    * 40700 and 5xxxx (internal errors) → ``AdsPlatformError(retriable=True)``;
    * anything else → ``AdsPlatformError(retriable=False)``.
    """
    raw_code = envelope.get("code")
    try:
        code = int(raw_code) if raw_code is not None else None
    except (TypeError, ValueError):
        code = None
    if code == OK:
        return None
    message = str(envelope.get("message") or "no message")
    details = {"operation": operation, "code": raw_code, "message": message, "request_id": envelope.get("request_id")}
    provider_code = str(raw_code) if raw_code is not None else None
    text = f"TikTok {operation}: {message} (code {raw_code})"
    if code is None:
        return AdsPlatformError(
            f"TikTok {operation}: an answer without a code",
            platform=PLATFORM,
            retriable=False,
            http_status=http_status,
            details=details,
        )
    if code == RATE_LIMITED:
        return AdsRateLimited(
            text, platform=PLATFORM, retry_after_s=retry_after_s, provider_code=provider_code, details=details
        )
    if code == PERMISSION_DENIED or 40101 <= code <= 40199:
        return AdsAuthFailed(text, platform=PLATFORM, provider_code=provider_code, details=details)
    if code == RETRY_LATER or 50000 <= code <= 59999:
        return AdsPlatformError(
            text,
            platform=PLATFORM,
            retriable=True,
            provider_code=provider_code,
            http_status=http_status,
            details=details,
        )
    if 40000 <= code <= 49999:
        return AdsRequestRejected(text, platform=PLATFORM, provider_code=provider_code, details=details)
    return AdsPlatformError(
        text, platform=PLATFORM, retriable=False, provider_code=provider_code, http_status=http_status, details=details
    )


__all__ = [
    "ACCESS_TOKEN_EMPTY",
    "ACCESS_TOKEN_INVALID",
    "API_PREFIX",
    "DEFAULT_BASE_URL",
    "INTERNAL_ERROR",
    "INVALID_PARAMETERS",
    "OK",
    "PARTIAL_SUCCESS",
    "PERMISSION_DENIED",
    "PLATFORM",
    "RATE_LIMITED",
    "RETRY_LATER",
    "dumps",
    "error_for",
    "exponent",
    "hash_email",
    "hash_external_id",
    "hash_phone",
    "is_sha256_hex",
    "normalise_email",
    "normalise_phone",
    "sha256_hex",
    "to_minor",
    "to_units",
    "units_json",
]
