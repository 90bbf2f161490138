"""Errors of channel connectors, grafted onto ``core.errors``.

::

    ClientError                        400
    ├── MalformedWebhook               400 malformed_webhook        body is not the provider's shape
    ├── PayloadTooLarge                413
    │   └── MediaTooLarge              413 media_too_large          over the provider's media limit
    └── Conflict                       409
        ├── OutsideReplyWindow         409 outside_reply_window     free text after the 24 h window:
        │                                                           details offer the template path
        └── ChannelNotConfigured       409 channel_not_configured   no active account for the channel
    DependencyUnavailable              503
    └── ChannelSendError               502/503 channel_send_failed  the provider refused or failed;
                                                                    ``retriable`` and ``retry_after_s``
                                                                    say whether a retry may succeed

A connector raises ``ChannelSendError`` with the provider's own code (Meta: ``error.code``)
in ``provider_code``; the outbound delivery loop retries only when ``retriable``.
"""

from __future__ import annotations

from typing import Any

from core.errors import ClientError, Conflict, DependencyUnavailable, PayloadTooLarge


class MalformedWebhook(ClientError):
    status = 400
    code = "malformed_webhook"


class MediaTooLarge(PayloadTooLarge):
    code = "media_too_large"


class OutsideReplyWindow(Conflict):
    code = "outside_reply_window"


class ChannelNotConfigured(Conflict):
    code = "channel_not_configured"


class ChannelSendError(DependencyUnavailable):
    code = "channel_send_failed"

    def __init__(
        self,
        message: str,
        *,
        retriable: bool,
        provider_code: str | None = None,
        retry_after_s: float | None = None,
        http_status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retriable = retriable
        self.provider_code = provider_code
        self.retry_after_s = retry_after_s
        self.http_status = http_status


__all__ = ["ChannelNotConfigured", "ChannelSendError", "MalformedWebhook", "MediaTooLarge", "OutsideReplyWindow"]
