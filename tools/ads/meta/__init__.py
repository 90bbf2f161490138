"""Meta (Facebook/Instagram) ads: the Marketing API connector, the Conversions API event
builder and a sandbox server speaking both (``sandbox/``, simulated, not Meta).

``MetaAdsConnector(http, api_version=...)`` implements ``tools.ads.base.AdsConnector``; see
``client`` for the calls and the retry policy, ``capi`` for hashing and event shapes,
``errors`` for Meta's error object and rate-limit headers, and ``sandbox`` for what was
verified from Meta's public documentation and what was assumed.
"""

from .client import DEFAULT_API_VERSION, DEFAULT_BASE_URL, MetaAdsConnector, RetryPolicy

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "MetaAdsConnector", "RetryPolicy"]
