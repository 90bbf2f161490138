"""``X-Hub-Signature-256``: Meta signs every webhook POST with HMAC-SHA256 of the raw body.

Verified (developers.facebook.com Graph API "Webhooks: Getting started", event notification
payloads): the header value is ``sha256=<hex digest>``, the key is the app secret and the
message is the exact request body bytes (not a re-serialisation). We compare in constant
time (``hmac.compare_digest``) before anything is parsed or stored.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign_body(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for ``body`` (used by our sandboxes and tests)."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """True only when ``header`` is the signature of ``body`` under ``app_secret``."""
    if not header or not app_secret or not header.startswith(_PREFIX):
        return False
    expected = sign_body(app_secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().encode())


__all__ = ["SIGNATURE_HEADER", "sign_body", "verify_signature"]
