"""Ad platforms for Lucy and Clio (docs/ads.md).

The shared vocabulary (``models``), the connector protocol (``base``) and errors live
here; each platform has its own package with a sandbox server speaking its HTTP protocol:
``meta/`` (Marketing API + Conversions API), ``google/`` (Google Ads API REST),
``tiktok/`` (Marketing API v1.3 + Events API). The ads service (accounts, guardrails,
approvals and audit, insights sync, KPIs, conversions) builds on them in this package.
"""

from .base import AdAccountView, AdsConnector, AdsRegistry
from .errors import (
    AdAccountNotConfigured,
    AdsAuthFailed,
    AdsPlatformError,
    AdsRateLimited,
    AdsRequestRejected,
    ApprovalRequired,
    GuardrailViolated,
)
from .models import (
    PLATFORMS,
    AdObject,
    AdSetSpec,
    AdStatus,
    CampaignSpec,
    ClickIdKind,
    ConversionEvent,
    ConversionKind,
    ConversionResult,
    CreativeSpec,
    DryRun,
    InsightRow,
    Level,
    Objective,
    Platform,
)

__all__ = [
    "PLATFORMS",
    "AdAccountNotConfigured",
    "AdAccountView",
    "AdObject",
    "AdSetSpec",
    "AdStatus",
    "AdsAuthFailed",
    "AdsConnector",
    "AdsPlatformError",
    "AdsRateLimited",
    "AdsRegistry",
    "AdsRequestRejected",
    "ApprovalRequired",
    "CampaignSpec",
    "ClickIdKind",
    "ConversionEvent",
    "ConversionKind",
    "ConversionResult",
    "CreativeSpec",
    "DryRun",
    "GuardrailViolated",
    "InsightRow",
    "Level",
    "Objective",
    "Platform",
]
