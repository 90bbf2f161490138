"""TikTok Marketing API v1.3 + Events API 2.0: the connector (``client``), the wire protocol
(``protocol``) and a local simulator (``sandbox``; what was verified and what was assumed is
in its module doc)."""

from .client import TikTokAdsConnector, TikTokSettings

__all__ = ["TikTokAdsConnector", "TikTokSettings"]
