"""Mailgun inbound routes: the ``forward()`` POST in raw-MIME form, and its signature.

Why Mailgun: its inbound POST carries a documented signature we can verify with the standard
library (SendGrid's Inbound Parse has no signature of its own; Postmark's inbound relies on
basic auth in the URL), and it can post the message *unparsed*, so we parse MIME ourselves
with ``email`` and keep every header that threading needs.

Verified (documentation.mailgun.com "Receiving Messages via HTTP through a forward() action"
and "Securing Webhooks"): a route's ``forward("https://.../mime")`` POSTs
``multipart/form-data`` or urlencoded fields; when the URL ends with ``mime`` the message is
posted as-is in ``body-mime`` beside ``recipient`` (RCPT TO), ``sender`` (MAIL FROM),
``from``, ``subject``, ``timestamp``, ``token`` and ``signature``. The signature is the hex
HMAC-SHA256 of ``timestamp + token`` (concatenated, no separator) keyed with the HTTP webhook
signing key; Mailgun recommends rejecting stale timestamps and caching tokens against replay.
Mailgun treats 200 as delivered, 406 as rejected-do-not-retry, anything else as retry later
(10 min .. 4 h for 8 hours).
Assumed: a 5-minute timestamp tolerance (Mailgun gives no number).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import MalformedInboundEmail

TIMESTAMP_TOLERANCE_S = 300


@dataclass(frozen=True, slots=True)
class MailgunSignature:
    timestamp: str
    token: str
    signature: str


def sign(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify(signing_key: str, sig: MailgunSignature, *, now: float | None = None) -> bool:
    """Constant-time check of Mailgun's signature, rejecting timestamps outside 5 minutes."""
    if not signing_key or not sig.signature or not sig.token or not sig.timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(sig.timestamp)) > TIMESTAMP_TOLERANCE_S:
        return False
    expected = sign(signing_key, sig.timestamp, sig.token)
    return hmac.compare_digest(expected.encode(), sig.signature.strip().lower().encode())


def signature_of(form: Mapping[str, object]) -> MailgunSignature:
    """The signature fields of a form; empty strings where missing (which never verify)."""
    return MailgunSignature(
        timestamp=str(form.get("timestamp") or "")[:20],
        token=str(form.get("token") or "")[:200],
        signature=str(form.get("signature") or "")[:200],
    )


@dataclass(frozen=True, slots=True)
class MailgunInbound:
    recipient: str
    sender: str
    raw_mime: bytes


def inbound_of(form: Mapping[str, object], raw_mime: bytes | None) -> MailgunInbound:
    """The routed message; ``raw_mime`` is the ``body-mime`` field (file part or text)."""
    recipient = str(form.get("recipient") or "").strip()
    if not recipient or len(recipient) > 2000:
        raise MalformedInboundEmail("recipient is missing")
    if not raw_mime:
        raise MalformedInboundEmail("body-mime is missing: the route must forward to a URL ending in 'mime'")
    return MailgunInbound(recipient=recipient, sender=str(form.get("sender") or "")[:998], raw_mime=raw_mime)


__all__ = [
    "TIMESTAMP_TOLERANCE_S",
    "MailgunInbound",
    "MailgunSignature",
    "inbound_of",
    "sign",
    "signature_of",
    "verify",
]
