"""Google Ads API connector (REST/JSON over httpx) and its sandbox (``sandbox/``).

See ``client`` for the connector, ``units`` for micros, ``hashing`` for enhanced
conversions identifiers, ``errors`` for the error mapping, and ``sandbox/__init__`` for
what was verified against Google's public documentation and what was assumed.
"""

from .client import DEFAULT_API_VERSION, GOOGLE_ADS_HOST, GoogleAdsConnector, MutateOutcome
from .errors import GoogleAdsErrorItem, error_from_response, parse_status
from .hashing import hashed_email, hashed_phone, normalize_email, normalize_phone
from .units import NonIntegerMinorUnits, cost_micros_to_minor, micros_to_minor, minor_to_micros

__all__ = [
    "DEFAULT_API_VERSION",
    "GOOGLE_ADS_HOST",
    "GoogleAdsConnector",
    "GoogleAdsErrorItem",
    "MutateOutcome",
    "NonIntegerMinorUnits",
    "cost_micros_to_minor",
    "error_from_response",
    "hashed_email",
    "hashed_phone",
    "micros_to_minor",
    "minor_to_micros",
    "normalize_email",
    "normalize_phone",
    "parse_status",
]
