"""What Meta's messaging products share (WhatsApp Cloud API, Instagram messaging)."""

from .errors import MetaError, parse_meta_error
from .signature import SIGNATURE_HEADER, matching_secrets, sign, verify_challenge, verify_signature

__all__ = [
    "SIGNATURE_HEADER",
    "MetaError",
    "matching_secrets",
    "parse_meta_error",
    "sign",
    "verify_challenge",
    "verify_signature",
]
