"""Meta's Graph API error object and usage headers → ``tools.ads.errors``.

Error object (Graph API "Handling errors", and the SDK's ``FacebookRequestError`` in
facebook/facebook-python-business-sdk ``facebook_business/exceptions.py``)::

    {"error": {"message", "type", "code", "error_subcode", "error_user_title",
               "error_user_msg", "is_transient", "fbtrace_id"}}

Mapping (codes from Meta's "Marketing API Rate Limiting" / "Business Use Case Rate Limits"
pages and the Graph error-code table, found through ``search``):

* ``190`` (invalid/expired token; also ``102`` session, ``104`` no token) → ``AdsAuthFailed``:
  a person must re-provision the token; never retried.
* throttling — ``4`` app, ``17`` user, ``32`` page, ``613`` ad-account mutations, ``80000`` to
  ``80014`` Business Use Case (80000 ads_insights, 80004 ads_management, …) →
  ``AdsRateLimited`` (retriable) with ``retry_after_s`` from ``Retry-After`` or the
  ``X-Business-Use-Case-Usage`` header's ``estimated_time_to_regain_access`` (minutes).
* ``1``/``2`` (unknown/service), ``is_transient: true`` or HTTP 5xx → ``AdsPlatformError``
  retriable (the caller still decides whether *its* operation is safe to repeat).
* ``100`` (invalid parameter) and any other 4xx → ``AdsRequestRejected`` with Meta's code,
  subcode and ``error_user_msg`` in ``details``.

Usage headers (verified names; JSON shapes as documented, values assumed per sandbox):
``X-Business-Use-Case-Usage: {"<id>": [{"type", "call_count", "total_cputime",
"total_time", "estimated_time_to_regain_access", "ads_api_access_tier"}]}``,
``X-Ad-Account-Usage: {"acc_id_util_pct", "reset_time_duration", "ads_api_access_tier"}``
and, on insights, ``x-fb-ads-insights-throttle: {"app_id_util_pct", "acc_id_util_pct"}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AdsAuthFailed, AdsPlatformError, AdsRateLimited, AdsRequestRejected

PLATFORM = "meta"
AUTH_CODES = frozenset({102, 104, 190})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
USAGE_HEADERS = ("x-business-use-case-usage", "x-ad-account-usage", "x-fb-ads-insights-throttle", "x-app-usage")


@dataclass(frozen=True, slots=True)
class GraphError:
    code: int
    message: str
    type: str | None = None
    subcode: int | None = None
    user_msg: str | None = None
    is_transient: bool = False
    fbtrace_id: str | None = None

    @property
    def provider_code(self) -> str:
        return f"{self.code}/{self.subcode}" if self.subcode is not None else str(self.code)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "error_subcode": self.subcode,
            "type": self.type,
            "message": self.message,
            "error_user_msg": self.user_msg,
            "is_transient": self.is_transient,
            "fbtrace_id": self.fbtrace_id,
        }


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_error(body: Any) -> GraphError | None:
    """The error object of a Graph response body, or None when it has none."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    err = body["error"]
    return GraphError(
        code=_int(err.get("code")) or 0,
        message=str(err.get("message") or "")[:500],
        type=str(err["type"]) if err.get("type") is not None else None,
        subcode=_int(err.get("error_subcode")),
        user_msg=str(err["error_user_msg"])[:500] if err.get("error_user_msg") else None,
        is_transient=err.get("is_transient") is True,
        fbtrace_id=str(err["fbtrace_id"]) if err.get("fbtrace_id") is not None else None,
    )


def usage(headers: Mapping[str, str]) -> dict[str, Any]:
    """The usage headers Meta sent, parsed (unparseable ones kept as text)."""
    out: dict[str, Any] = {}
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            out[name] = json.loads(raw)
        except ValueError:
            out[name] = raw
    return out


def regain_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds until access is regained: ``Retry-After`` or the largest
    ``estimated_time_to_regain_access`` (minutes) of ``X-Business-Use-Case-Usage``."""
    retry_after = headers.get("retry-after")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after.strip())
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        buc = json.loads(raw)
    except ValueError:
        return None
    minutes: list[float] = []
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    minutes.append(float(value))
    return max(minutes) * 60.0 if minutes else None


def to_ads_error(
    status: int, body: Any, headers: Mapping[str, str]
) -> AdsAuthFailed | AdsRequestRejected | AdsPlatformError:
    """The ``tools.ads.errors`` exception for a failed Graph call."""
    err = parse_error(body)
    if err is None:
        if status == 429:
            return AdsRateLimited(
                f"Meta throttled the request (HTTP {status})",
                platform=PLATFORM,
                retry_after_s=regain_after_s(headers),
                http_status=status,
                details={"usage": usage(headers)},
            )
        if status >= 500:
            return AdsPlatformError(
                f"Meta answered HTTP {status} without an error object",
                platform=PLATFORM,
                retriable=True,
                http_status=status,
            )
        return AdsRequestRejected(
            f"Meta refused the request (HTTP {status}) without an error object",
            platform=PLATFORM,
            details={"http_status": status},
        )
    details = {**err.as_dict(), "http_status": status}
    text = f"Meta: ({err.provider_code}) {err.user_msg or err.message}"
    if err.code in AUTH_CODES:
        return AdsAuthFailed(
            f"the Meta access token is invalid or expired ({err.provider_code}); re-provision the ad account",
            platform=PLATFORM,
            provider_code=err.provider_code,
            details=details,
        )
    if err.code in RATE_LIMIT_CODES or status == 429:
        return AdsRateLimited(
            text,
            platform=PLATFORM,
            retry_after_s=regain_after_s(headers),
            provider_code=err.provider_code,
            http_status=status,
            details={**details, "usage": usage(headers)},
        )
    if status >= 500 or err.is_transient or err.code in TRANSIENT_CODES:
        return AdsPlatformError(
            text,
            platform=PLATFORM,
            retriable=True,
            provider_code=err.provider_code,
            http_status=status,
            details=details,
        )
    return AdsRequestRejected(text, platform=PLATFORM, provider_code=err.provider_code, details=details)


__all__ = [
    "AUTH_CODES",
    "PLATFORM",
    "RATE_LIMIT_CODES",
    "TRANSIENT_CODES",
    "GraphError",
    "parse_error",
    "regain_after_s",
    "to_ads_error",
    "usage",
]
