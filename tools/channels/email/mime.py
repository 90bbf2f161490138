"""Parsing an inbound e-mail with the standard library (``email``, policy ``default``).

What we keep: the addresses (lower-cased), subject, the threading headers (RFC 5322 §3.6.4:
``Message-ID``, ``In-Reply-To``, ``References``), the text the customer wrote (the
``text/plain`` part, else the HTML part as text, with the quoted history cut off), and the
attachments' names, types and sizes. An attachment over ``max_attachment_bytes`` is refused
with ``AttachmentTooLarge`` (413) rather than stored truncated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from .errors import AttachmentTooLarge, MalformedInboundEmail

MAX_MIME_BYTES = 30 * 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_MSGID = re.compile(r"<[^<>\s]{1,900}>")
# "On Tue, 3 Dec 2026 at 10:00, Ana <ana@x> wrote:" / "Em ter., 3 de dez. ... escreveu:"
_QUOTE_INTRO = re.compile(r"^(On\b.{0,300}\bwrote:|Em\b.{0,300}\bescreveu:|-{2,}\s*Original Message\s*-{2,})\s*$", re.I)


@dataclass(frozen=True, slots=True)
class EmailAttachment:
    filename: str | None
    content_type: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class InboundEmail:
    message_id: str  # with angle brackets, as in the header
    in_reply_to: str | None
    references: tuple[str, ...]
    from_address: str  # lower-cased
    from_name: str | None
    to: tuple[str, ...]
    subject: str
    text: str  # what the customer wrote, quoted history removed
    full_text: str
    date: datetime | None
    attachments: tuple[EmailAttachment, ...]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return re.sub(r"\n{3,}", "\n\n", "".join(p.parts)).strip()


def strip_quoted(text: str) -> str:
    """The new part of a reply: up to the "On ... wrote:" line or the first ``>`` block."""
    out: list[str] = []
    for line in text.splitlines():
        if _QUOTE_INTRO.match(line.strip()) or line.startswith(">"):
            break
        out.append(line)
    new = "\n".join(out).strip()
    return new or text.strip()


def message_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def _addresses(msg: EmailMessage, header: str) -> list[tuple[str, str]]:
    values = [str(v) for v in msg.get_all(header, [])]
    return [(name, addr.strip().lower()) for name, addr in getaddresses(values) if "@" in addr]


def parse_email(raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> InboundEmail:
    """Parse ``raw`` RFC 5322 bytes; MalformedInboundEmail when it is not a usable e-mail."""
    if len(raw) > MAX_MIME_BYTES:
        raise AttachmentTooLarge(f"the e-mail is larger than {MAX_MIME_BYTES} bytes")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except (ValueError, TypeError, IndexError) as exc:
        raise MalformedInboundEmail(f"not a MIME message: {type(exc).__name__}") from None
    assert isinstance(msg, EmailMessage)
    senders = _addresses(msg, "from")
    if not senders:
        raise MalformedInboundEmail("the e-mail has no From address")
    ids = message_ids(str(msg.get("message-id", "")))
    if not ids:
        raise MalformedInboundEmail("the e-mail has no Message-ID")
    attachments = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        if size > max_attachment_bytes:
            raise AttachmentTooLarge(
                f"attachment {part.get_filename() or '(unnamed)'!r} is {size} bytes; "
                f"the limit is {max_attachment_bytes}",
                details={"filename": part.get_filename(), "size_bytes": size, "limit_bytes": max_attachment_bytes},
            )
        attachments.append(EmailAttachment(part.get_filename(), part.get_content_type(), size))
    body = msg.get_body(preferencelist=("plain", "html"))
    full = ""
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError):  # unknown charset: keep what decodes
            raw_payload = body.get_payload(decode=True)
            content = raw_payload.decode("utf-8", "replace") if isinstance(raw_payload, bytes) else ""
        full = html_to_text(content) if body.get_content_type() == "text/html" else str(content)
    full = full.replace("\x00", "").strip()
    try:
        date = parsedate_to_datetime(str(msg["date"])) if msg["date"] else None
    except (TypeError, ValueError):
        date = None
    name, addr = senders[0]
    return InboundEmail(
        message_id=ids[0],
        in_reply_to=(message_ids(str(msg.get("in-reply-to", ""))) or (None,))[0],
        references=message_ids(str(msg.get("references", ""))),
        from_address=addr,
        from_name=name or None,
        to=tuple(a for _, a in _addresses(msg, "to")),
        subject=str(msg.get("subject", "")).replace("\x00", "")[:998],
        text=strip_quoted(full),
        full_text=full,
        date=date,
        attachments=tuple(attachments),
    )


def format_address(name: str | None, address: str) -> str:
    user, _, domain = address.partition("@")
    return str(Address(display_name=name or "", username=user, domain=domain))


__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "EmailAttachment",
    "InboundEmail",
    "format_address",
    "html_to_text",
    "message_ids",
    "parse_email",
    "strip_quoted",
]
