"""Meta webhook authentication, shared by WhatsApp Cloud API and Instagram messaging.

Verified from Meta's webhook documentation (as quoted by the WhatsApp Node.js SDK docs,
whatsapp.github.io, and several SDKs found through `search`): every POST carries
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed with the app secret>``;
the one-time GET handshake sends ``hub.mode=subscribe``, ``hub.verify_token`` and
``hub.challenge``, and the endpoint answers 200 with the challenge as the body when the
token matches (401/403 otherwise). Comparisons are constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``body`` (sandboxes and tests sign with it)."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """True when ``header`` is the HMAC-SHA256 of ``body`` under ``app_secret``."""
    if not header or not header.startswith(_PREFIX) or len(header) != len(_PREFIX) + 64:
        return False
    return hmac.compare_digest(sign(body, app_secret).encode(), header.strip().encode())


def matching_secrets(body: bytes, header: str | None, secrets: Iterable[tuple[str, str]]) -> list[str]:
    """Keys of the ``(key, app_secret)`` pairs that signed ``body``. Every candidate is
    checked (no early exit), so timing does not reveal which one matched."""
    found = []
    for key, secret in secrets:
        if verify_signature(body, header, secret):
            found.append(key)
    return found


def verify_challenge(mode: str | None, token: str | None, expected_tokens: Iterable[str]) -> bool:
    """The GET handshake: mode ``subscribe`` and a verify token equal to one we issued."""
    if mode != "subscribe" or not token:
        return False
    ok = False
    for expected in expected_tokens:
        ok |= hmac.compare_digest(token.encode(), expected.encode())
    return ok


__all__ = ["SIGNATURE_HEADER", "matching_secrets", "sign", "verify_challenge", "verify_signature"]
