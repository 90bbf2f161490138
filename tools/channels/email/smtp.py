"""Sending e-mail over SMTP with ``aiosmtplib`` (async; no thread needed).

A send builds one ``EmailMessage`` (text/plain, UTF-8) with the threading headers from
``threads.reply_headers`` and our own ``Message-ID``, which is returned so delivery can be
matched and the next inbound reply threads back to it. SMTP 4xx answers and lost connections
are retryable; 5xx (a refused recipient, a rejected message) are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from .errors import EmailSendFailed, InvalidRecipient
from .mime import format_address
from .threads import ReplyHeaders


@dataclass(frozen=True, slots=True)
class SmtpAccount:
    host: str
    port: int
    from_address: str
    from_name: str | None = None
    username: str | None = None
    password: str | None = None
    start_tls: bool = False  # STARTTLS on a plain port (587)
    use_tls: bool = False  # implicit TLS (465)
    timeout_s: float = 20.0

    @property
    def domain(self) -> str:
        return self.from_address.partition("@")[2] or "tridium.local"


@dataclass(frozen=True, slots=True)
class OutboundEmail:
    to_address: str
    to_name: str | None
    subject: str
    text: str
    reply: ReplyHeaders | None = None  # None starts a new conversation


def build_message(account: SmtpAccount, email: OutboundEmail) -> EmailMessage:
    if "@" not in email.to_address or any(c in email.to_address for c in "\r\n <>"):
        raise InvalidRecipient("the conversation has no usable e-mail address")
    msg = EmailMessage()
    msg["From"] = format_address(account.from_name, account.from_address)
    msg["To"] = format_address(email.to_name, email.to_address)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    if email.reply is not None:
        msg["Subject"] = email.reply.subject
        msg["Message-ID"] = email.reply.message_id
        msg["In-Reply-To"] = email.reply.in_reply_to
        msg["References"] = email.reply.references
    else:
        msg["Subject"] = email.subject
        msg["Message-ID"] = make_msgid(domain=account.domain)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: stops auto-responder loops
    msg.set_content(email.text)
    return msg


class SmtpSender:
    """Sends for one SMTP account; a connection per message (inbox volumes are low)."""

    def __init__(self, account: SmtpAccount):
        self._account = account

    async def send(self, email: OutboundEmail) -> str:
        """Send; return the Message-ID we gave the e-mail."""
        acc = self._account
        msg = build_message(acc, email)
        try:
            await aiosmtplib.send(
                msg,
                hostname=acc.host,
                port=acc.port,
                username=acc.username,
                password=acc.password,
                start_tls=acc.start_tls,
                use_tls=acc.use_tls,
                timeout=acc.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            code = codes[0] if codes else None
            raise EmailSendFailed(
                "the SMTP server refused the recipient", retryable=bool(code and 400 <= code < 500), smtp_code=code
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise EmailSendFailed(
                f"the SMTP server answered {exc.code}", retryable=400 <= exc.code < 500, smtp_code=exc.code
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise EmailSendFailed(f"SMTP connection failed: {type(exc).__name__}", retryable=True) from None
        return str(msg["Message-ID"])


__all__ = ["OutboundEmail", "SmtpAccount", "SmtpSender", "build_message"]
