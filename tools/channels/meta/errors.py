"""Meta's Graph API error object, shared by the WhatsApp Cloud and Instagram send APIs.

Verified (developers.facebook.com Messenger Platform "Common Error Codes"): a failed call
answers ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; code 4
is the application rate limit, 613 "calls to this API have exceeded the rate limit", 2 a
temporary failure to retry, 190 an invalid OAuth access token, 10 with subcode 2018278
"this message is sent outside of allowed window", 551 "this person isn't available right now".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RATE_LIMIT_CODES = frozenset({4, 613, 80002, 130429})
TRANSIENT_CODES = frozenset({1, 2})
OUTSIDE_WINDOW = (10, 2018278)
INVALID_TOKEN = 190


@dataclass(frozen=True, slots=True)
class GraphError:
    http_status: int
    code: int
    subcode: int | None
    message: str
    type: str
    fbtrace_id: str | None

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMIT_CODES

    @property
    def retryable(self) -> bool:
        """Worth retrying with backoff: rate limits, Meta's transient errors, 5xx."""
        return self.rate_limited or self.code in TRANSIENT_CODES or self.http_status >= 500

    @property
    def outside_window(self) -> bool:
        return (self.code, self.subcode) == OUTSIDE_WINDOW

    def as_details(self) -> dict[str, Any]:
        return {
            "provider_code": self.code,
            "provider_subcode": self.subcode,
            "provider_message": self.message,
            "fbtrace_id": self.fbtrace_id,
        }


def parse_graph_error(http_status: int, body: Any) -> GraphError:
    """Meta's error object from a response body; a body without one still gives a GraphError."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return GraphError(http_status, 0, None, f"HTTP {http_status} without an error object", "", None)
    code = err.get("code")
    sub = err.get("error_subcode")
    return GraphError(
        http_status=http_status,
        code=code if isinstance(code, int) else 0,
        subcode=sub if isinstance(sub, int) else None,
        message=str(err.get("message") or ""),
        type=str(err.get("type") or ""),
        fbtrace_id=str(err["fbtrace_id"]) if err.get("fbtrace_id") else None,
    )


__all__ = ["INVALID_TOKEN", "OUTSIDE_WINDOW", "GraphError", "parse_graph_error"]
