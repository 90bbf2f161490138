"""Instagram connector errors (under ``core.errors`` so the gateway maps them in one place).

::

    ClientError
    ├── MalformedInstagramWebhook     400 malformed_webhook      signed, but not a webhook we can read
    ├── InstagramOutsideWindow        422 instagram_outside_window  no reply allowed now (24 h / 7 d rules)
    └── InstagramMessageRejected      422 instagram_message_rejected  too long, bad attachment, oversized
    InstagramSendFailed               502 instagram_send_failed   Meta answered an error (GraphError inside)
"""

from __future__ import annotations

from core.errors import ClientError, TridiumError

from ..meta import GraphError


class MalformedInstagramWebhook(ClientError):
    code = "malformed_webhook"


class InstagramOutsideWindow(ClientError):
    status = 422
    code = "instagram_outside_window"


class InstagramMessageRejected(ClientError):
    status = 422
    code = "instagram_message_rejected"


class InstagramSendFailed(TridiumError):
    status = 502
    code = "instagram_send_failed"

    def __init__(self, error: GraphError):
        super().__init__(f"Instagram refused the message: {error.message}", details=error.as_details())
        self.error = error

    @property
    def retryable(self) -> bool:
        return self.error.retryable


__all__ = [
    "InstagramMessageRejected",
    "InstagramOutsideWindow",
    "InstagramSendFailed",
    "MalformedInstagramWebhook",
]
