"""E-mail: Mailgun inbound routes (raw MIME, signed), MIME parsing, threading, SMTP out.

``sandbox`` runs an SMTP server (aiosmtpd) that keeps what we send and plays the
customer: it answers our messages through a signed Mailgun-style POST to the gateway.
"""

from .errors import AttachmentTooLarge, EmailSendFailed, InvalidRecipient, MalformedInboundEmail
from .mailgun import MailgunInbound, MailgunSignature, inbound_of, signature_of, verify
from .mime import EmailAttachment, InboundEmail, parse_email, strip_quoted
from .smtp import OutboundEmail, SmtpAccount, SmtpSender, build_message
from .threads import ReplyHeaders, lookup_ids, reply_headers, reply_subject
from .webhook import PROVIDER, EmailConnector, authenticate, parse, smtp_account

__all__ = [
    "PROVIDER",
    "EmailConnector",
    "authenticate",
    "parse",
    "smtp_account",
    "AttachmentTooLarge",
    "EmailAttachment",
    "EmailSendFailed",
    "InboundEmail",
    "InvalidRecipient",
    "MailgunInbound",
    "MailgunSignature",
    "MalformedInboundEmail",
    "OutboundEmail",
    "ReplyHeaders",
    "SmtpAccount",
    "SmtpSender",
    "build_message",
    "inbound_of",
    "lookup_ids",
    "parse_email",
    "reply_headers",
    "reply_subject",
    "signature_of",
    "strip_quoted",
    "verify",
]
