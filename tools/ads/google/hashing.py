"""Normalising and hashing user identifiers for Google Ads conversion uploads.

Google requires SHA-256 (hex) of the normalised value (``userIdentifiers[].hashedEmail``
/ ``hashedPhoneNumber``): strip surrounding whitespace, lower-case, phone numbers in
E.164 with the leading ``+``, and for ``gmail.com`` / ``googlemail.com`` addresses remove
every ``.`` before the ``@`` (developers.google.com/google-ads/api/docs/conversions/
enhanced-conversions and the google-ads-python example
``examples/remarketing/upload_enhanced_conversions_for_leads.py``). The identifiers never
leave this process in clear.
"""

from __future__ import annotations

import hashlib
import re

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    local, at, domain = normalized.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not an e-mail address")
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def normalize_phone(phone: str) -> str:
    """E.164 with a leading ``+`` (``+5511987654321``); digits only otherwise."""
    digits = re.sub(r"\D", "", phone)
    if not 8 <= len(digits) <= 15:
        raise ValueError("not an E.164 phone number")
    return f"+{digits}"


def hashed_email(email: str) -> str:
    return sha256_hex(normalize_email(email))


def hashed_phone(phone: str) -> str:
    return sha256_hex(normalize_phone(phone))


def looks_hashed(value: str) -> bool:
    return bool(_HEX64.match(value))


__all__ = ["hashed_email", "hashed_phone", "looks_hashed", "normalize_email", "normalize_phone", "sha256_hex"]
