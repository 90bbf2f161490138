"""Google Ads API errors -> ``tools.ads.errors``.

A failed REST call answers ``{"error": {code, message, status, details: [...]}}`` (a
``google.rpc.Status``); ``searchStream`` wraps it in a JSON array. One of the details is
``{"@type": "type.googleapis.com/google.ads.googleads.v{N}.errors.GoogleAdsFailure",
"errors": [{"errorCode": {"<kind>Error": "<REASON>"}, "message", "location":
{"fieldPathElements": [{"fieldName", "index"}]}, "details": {"quotaErrorDetails":
{"retryDelay": "30s", ...}}}], "requestId"}``. ``partialFailureError`` in a 200 answer is
the same ``Status`` shape.

Mapping: HTTP 429 / ``RESOURCE_EXHAUSTED`` / any ``quotaError`` -> ``AdsRateLimited``
(``retry_after_s`` from ``quotaErrorDetails.retryDelay`` or a ``google.rpc.RetryInfo``);
401 / ``UNAUTHENTICATED`` / ``authenticationError`` and 403 / ``PERMISSION_DENIED`` /
``authorizationError`` -> ``AdsAuthFailed`` (a person must fix the credentials or access);
other 4xx (``INVALID_ARGUMENT`` with field, range, query... errors) ->
``AdsRequestRejected``; 5xx / ``UNAVAILABLE`` / ``INTERNAL`` / ``DEADLINE_EXCEEDED`` ->
``AdsPlatformError(retriable=True)``. ``provider_code`` is ``"<kind>Error.<REASON>"`` of
the first error (e.g. ``"queryError.UNRECOGNIZED_FIELD"``), else the status name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import AdsAuthFailed, AdsPlatformError, AdsRateLimited, AdsRequestRejected

PLATFORM = "google"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_RETRIABLE_STATUSES = frozenset({"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "UNKNOWN", "ABORTED"})


@dataclass(frozen=True, slots=True)
class GoogleAdsErrorItem:
    """One ``GoogleAdsError``: ``code`` is ``"<kind>Error.<REASON>"``; ``index`` the
    operation (or conversion) it is about, from ``location.fieldPathElements``."""

    code: str
    message: str
    index: int | None = None
    field_path: tuple[str, ...] = ()
    retry_delay_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GoogleStatus:
    http_status: int
    status: str
    message: str
    errors: tuple[GoogleAdsErrorItem, ...] = ()
    request_id: str | None = None
    retry_delay_s: float | None = None


def parse_duration(value: Any) -> float | None:
    """A protobuf ``Duration`` in JSON (``"30s"``, ``"1.5s"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1))
    if isinstance(value, dict):  # {"seconds": "30", "nanos": 0}
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def _item(raw: dict[str, Any]) -> GoogleAdsErrorItem:
    code_obj = raw.get("errorCode") or {}
    code = next((f"{k}.{v}" for k, v in code_obj.items()), "UNKNOWN") if isinstance(code_obj, dict) else "UNKNOWN"
    path: list[str] = []
    index: int | None = None
    for element in (raw.get("location") or {}).get("fieldPathElements") or []:
        name = str(element.get("fieldName", ""))
        path.append(name)
        if index is None and "index" in element:
            try:
                index = int(element["index"])
            except (TypeError, ValueError):
                index = None
    quota = (raw.get("details") or {}).get("quotaErrorDetails") or {}
    return GoogleAdsErrorItem(
        code=code,
        message=str(raw.get("message", "")),
        index=index,
        field_path=tuple(path),
        retry_delay_s=parse_duration(quota.get("retryDelay")),
        raw=raw,
    )


def parse_status(http_status: int, body: Any) -> GoogleStatus:
    """A ``google.rpc.Status`` (``{"error": ...}``, array-wrapped or a bare
    ``partialFailureError``) with its ``GoogleAdsFailure`` errors."""
    if isinstance(body, list):
        body = next((b for b in body if isinstance(b, dict) and "error" in b), body[0] if body else {})
    err = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(err, dict):
        err = {}
    items: list[GoogleAdsErrorItem] = []
    request_id: str | None = None
    retry: float | None = None
    for detail in err.get("details") or []:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith(".errors.GoogleAdsFailure"):
            items.extend(_item(e) for e in detail.get("errors") or [] if isinstance(e, dict))
            request_id = detail.get("requestId") or request_id
        elif kind.endswith("google.rpc.RetryInfo"):
            retry = parse_duration(detail.get("retryDelay"))
    if retry is None:
        retry = next((i.retry_delay_s for i in items if i.retry_delay_s is not None), None)
    return GoogleStatus(
        http_status=http_status,
        status=str(err.get("status", "")),
        message=str(err.get("message", "")),
        errors=tuple(items),
        request_id=request_id,
        retry_delay_s=retry,
    )


def error_from_status(st: GoogleStatus, *, where: str) -> AdsPlatformError | AdsRequestRejected | AdsAuthFailed:
    kinds = {e.code.split(".", 1)[0] for e in st.errors}
    first = st.errors[0].code if st.errors else (st.status or str(st.http_status))
    text = "; ".join(f"{e.code}: {e.message}" for e in st.errors) or st.message or "no message"
    details = {
        "http_status": st.http_status,
        "status": st.status,
        "request_id": st.request_id,
        "errors": [{"code": e.code, "message": e.message, "index": e.index} for e in st.errors],
    }
    message = f"Google Ads {where} answered {st.http_status} {st.status}: {text}"
    if st.http_status == 429 or st.status == "RESOURCE_EXHAUSTED" or "quotaError" in kinds:
        return AdsRateLimited(
            message,
            platform=PLATFORM,
            retry_after_s=st.retry_delay_s,
            provider_code=first,
            http_status=st.http_status,
            details=details,
        )
    if (
        st.http_status in (401, 403)
        or st.status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or kinds & {"authenticationError", "authorizationError"}
    ):
        return AdsAuthFailed(message, platform=PLATFORM, provider_code=first, details=details)
    if st.http_status >= 500 or st.status in _RETRIABLE_STATUSES:
        return AdsPlatformError(
            message, platform=PLATFORM, retriable=True, provider_code=first, http_status=st.http_status, details=details
        )
    if 400 <= st.http_status < 500:
        return AdsRequestRejected(message, platform=PLATFORM, provider_code=first, details=details)
    return AdsPlatformError(
        message, platform=PLATFORM, retriable=False, provider_code=first, http_status=st.http_status, details=details
    )


def error_from_response(
    http_status: int, body: Any, *, where: str
) -> AdsPlatformError | AdsRequestRejected | AdsAuthFailed:
    return error_from_status(parse_status(http_status, body), where=where)


__all__ = [
    "GoogleAdsErrorItem",
    "GoogleStatus",
    "error_from_response",
    "error_from_status",
    "parse_duration",
    "parse_status",
]
