"""E-mail channel errors (under ``core.errors``; the gateway maps them in one place).

::

    ClientError
    ├── MalformedInboundEmail     400 malformed_webhook   signed, but not an e-mail we can read
    ├── AttachmentTooLarge        413 attachment_too_large an attachment over the tenant's limit
    └── InvalidRecipient          422 email_invalid_recipient  no usable address to answer
    EmailSendFailed               502 email_send_failed   the SMTP server refused or vanished
"""

from __future__ import annotations

from core.errors import ClientError, PayloadTooLarge, TridiumError

from ..errors import MalformedWebhook


class MalformedInboundEmail(MalformedWebhook):
    pass


class AttachmentTooLarge(PayloadTooLarge):
    code = "attachment_too_large"


class InvalidRecipient(ClientError):
    status = 422
    code = "email_invalid_recipient"


class EmailSendFailed(TridiumError):
    status = 502
    code = "email_send_failed"

    def __init__(self, message: str, *, retryable: bool, smtp_code: int | None = None):
        super().__init__(message, details={"smtp_code": smtp_code, "retryable": retryable})
        self.retryable = retryable
        self.smtp_code = smtp_code


__all__ = ["AttachmentTooLarge", "EmailSendFailed", "InvalidRecipient", "MalformedInboundEmail"]
