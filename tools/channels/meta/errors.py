"""Meta's Graph API error object and what our retry loop does with each code.

Shape (Graph API error handling docs, and the WhatsApp Cloud API error-code pages found
through `search`): ``{"error": {"message", "type", "code", "error_subcode",
"error_data": {"messaging_product", "details"}, "fbtrace_id"}}``.

Codes we act on (WhatsApp Cloud API error codes):

* rate limits — retried with backoff: ``4`` (application request limit), ``80007`` (WhatsApp
  Business Account rate limit), ``130429`` (Cloud API throughput reached), ``131056``
  (business/consumer pair rate limit), ``131048`` (spam rate limit);
* transient — retried: ``1``/``2`` (API unknown/service), ``131000`` (something went wrong),
  ``131016`` (service unavailable), ``133004`` (server temporarily unavailable), and any 5xx;
* ``131047`` re-engagement message: more than 24 hours since the customer's last message,
  only a template may be sent — never retried (the connector refuses before Meta does);
* anything else (``100`` invalid parameter, ``190`` expired token, ``131026`` undeliverable,
  ``132000``/``132001`` template problems) — not retried, the delivery ends ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ChannelSendError

RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056, 131048})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
REENGAGEMENT_CODE = 131047


@dataclass(frozen=True, slots=True)
class MetaError:
    code: int
    message: str
    type: str | None = None
    subcode: int | None = None
    details: str | None = None
    fbtrace_id: str | None = None

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMIT_CODES

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "type": self.type,
            "error_subcode": self.subcode,
            "details": self.details,
            "fbtrace_id": self.fbtrace_id,
        }


def parse_meta_error(body: Any) -> MetaError | None:
    """The error object of a Graph API response body, or None when it has none."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    err = body["error"]
    code = err.get("code")
    data = err.get("error_data") if isinstance(err.get("error_data"), dict) else {}
    sub = err.get("error_subcode")
    return MetaError(
        code=int(code) if isinstance(code, int | str) and str(code).isdigit() else 0,
        message=str(err.get("message") or "")[:500],
        type=str(err["type"]) if err.get("type") is not None else None,
        subcode=int(sub) if isinstance(sub, int) else None,
        details=str(data.get("details"))[:500] if data.get("details") is not None else None,
        fbtrace_id=str(err["fbtrace_id"]) if err.get("fbtrace_id") is not None else None,
    )


def send_error(status: int, body: Any, retry_after: str | None = None) -> ChannelSendError:
    """The ``ChannelSendError`` for a failed Graph API call (HTTP ``status``, parsed ``body``)."""
    meta = parse_meta_error(body)
    retry_after_s = float(retry_after) if retry_after and retry_after.isdigit() else None
    if meta is None:
        return ChannelSendError(
            f"the provider answered HTTP {status} without an error object",
            retriable=status >= 500 or status == 429,
            http_status=status,
            retry_after_s=retry_after_s,
        )
    retriable = meta.code in RATE_LIMIT_CODES or meta.code in TRANSIENT_CODES or status >= 500
    if meta.code == REENGAGEMENT_CODE:
        retriable = False
    return ChannelSendError(
        f"Meta refused the message: ({meta.code}) {meta.message}",
        retriable=retriable,
        provider_code=str(meta.code),
        http_status=status,
        retry_after_s=retry_after_s,
        details=meta.as_dict(),
    )


__all__ = ["REENGAGEMENT_CODE", "RATE_LIMIT_CODES", "TRANSIENT_CODES", "MetaError", "parse_meta_error", "send_error"]
