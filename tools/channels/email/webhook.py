"""E-mail for the inbox: Mailgun's signed raw-MIME POST → ``InboundBatch``, and the
``EmailConnector`` that answers over SMTP, threaded.

The account (``channel_accounts``): channel ``email``, provider ``mailgun``, external id =
the inbound address (the route's RCPT TO, lower-cased); secrets ``signing_key`` (Mailgun's
HTTP webhook signing key) and optionally ``smtp_password``; config ``smtp_host``,
``smtp_port``, ``smtp_username``, ``start_tls``, ``use_tls``, ``from_name``,
``max_attachment_bytes``.

Threading: the inbound message's ``extra`` keeps ``message_id``, ``references`` and
``subject``; ``thread_hint`` is the conversation's root id. An answer part threads when
it carries ``reply_to`` (the customer's Message-ID), ``references`` and ``subject``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from ..base import AccountView, SendResult, WindowState
from ..errors import ChannelNotConfigured, ChannelSendError
from ..models import Channel, ContactIdentity, InboundBatch, InboundMessage, MediaRef, OutboundPart
from .errors import EmailSendFailed
from .mailgun import MailgunSignature, inbound_of, verify
from .mime import DEFAULT_MAX_ATTACHMENT_BYTES, parse_email
from .smtp import OutboundEmail, SmtpAccount, SmtpSender
from .threads import lookup_ids, reply_headers

PROVIDER = "mailgun"


def authenticate(sig: MailgunSignature, accounts: Sequence[AccountView]) -> list[UUID]:
    """The accounts whose signing key produced ``sig`` (each candidate checked)."""
    found = []
    for a in accounts:
        try:
            key = a.secret("signing_key")
        except ChannelNotConfigured:
            continue
        if verify(key, sig):
            found.append(a.id)
    return found


def parse(
    form: Mapping[str, object], raw_mime: bytes | None, *, max_attachment_bytes: int | None = None
) -> InboundBatch:
    """The e-mail as one ``InboundMessage``; MalformedWebhook / AttachmentTooLarge (413)."""
    routed = inbound_of(form, raw_mime)
    email = parse_email(routed.raw_mime, max_attachment_bytes=max_attachment_bytes or DEFAULT_MAX_ATTACHMENT_BYTES)
    media = tuple(
        MediaRef(filename=(a.filename or "")[:255] or None, mime_type=a.content_type[:120], size_bytes=a.size_bytes)
        for a in email.attachments
    )
    chain = lookup_ids(email)
    root = email.references[0] if email.references else (email.in_reply_to or email.message_id)
    message = InboundMessage(
        provider=PROVIDER,
        provider_message_id=email.message_id[:512],
        channel="email",
        account_external_id=routed.recipient.lower()[:255],
        contact=ContactIdentity.email(email.from_address, (email.from_name or "")[:200] or None),
        type="document" if media and not email.text else "text",
        text=email.text[:65_536],
        media=media,
        sent_at=email.date or datetime.now(UTC),
        reply_to=email.in_reply_to[:512] if email.in_reply_to else None,
        thread_hint=root[:998],
        extra={"subject": email.subject, "message_id": email.message_id, "references": list(chain)[:50]},
    )
    return InboundBatch(messages=(message,))


def smtp_account(account: AccountView) -> SmtpAccount:
    cfg = account.config
    host = cfg.get("smtp_host")
    if not host:
        raise ChannelNotConfigured("the e-mail account has no smtp_host", details={"account_id": str(account.id)})
    password = account.secrets.get("smtp_password")
    return SmtpAccount(
        host=str(host),
        port=int(cfg.get("smtp_port") or 587),
        from_address=str(cfg.get("from_address") or account.external_id),
        from_name=str(cfg["from_name"]) if cfg.get("from_name") else None,
        username=str(cfg["smtp_username"]) if cfg.get("smtp_username") else None,
        password=password.get_secret_value() if password is not None else None,
        start_tls=bool(cfg.get("start_tls", False)),
        use_tls=bool(cfg.get("use_tls", False)),
    )


class EmailConnector:
    """``ChannelConnector`` for e-mail: no reply window; SMTP 4xx/connection errors retry."""

    channel: Channel = "email"
    provider = PROVIDER

    def check_window(self, part: OutboundPart, window: WindowState) -> None:
        return None  # e-mail has no reply window

    def validate(self, part: OutboundPart) -> None:
        if part.kind not in ("text", "interactive") or not part.text.strip():
            raise ValueError("e-mail answers are text (attachments are not sent by the inbox)")

    async def send(self, account: AccountView, recipient: str, part: OutboundPart) -> SendResult:
        acc = smtp_account(account)
        reply = None
        if part.reply_to:
            reply = reply_headers(part.reply_to, tuple(part.references), part.subject or "", domain=acc.domain)
        email = OutboundEmail(recipient, None, part.subject or "", part.text, reply)
        try:
            message_id = await SmtpSender(acc).send(email)
        except EmailSendFailed as exc:
            raise ChannelSendError(
                exc.message, retriable=exc.retryable, provider_code=str(exc.smtp_code) if exc.smtp_code else None
            ) from None
        return SendResult(message_id, {"in_reply_to": part.reply_to})


__all__ = ["PROVIDER", "EmailConnector", "authenticate", "parse", "smtp_account"]
