"""Errors of ad-platform connectors and of Lucy's guardrails, grafted onto ``core.errors``.

::

    ClientError                          400
    ├── ValidationFailed                 422
    │   ├── AdsRequestRejected           422 ads_request_rejected     the platform refused the request as
    │   │                                                             invalid (bad budget, bad field); details
    │   │                                                             carry the platform's own code/message
    │   └── GuardrailViolated            422 ads_guardrail_violated   over a spend cap, a budget step or the
    │                                                                 daily change limit; details name the rule,
    │                                                                 the limit and what was asked
    ├── Conflict                         409
    │   ├── AdAccountNotConfigured       409 ads_account_not_configured  no active account on that platform
    │   ├── AdsAuthFailed                409 ads_account_auth_failed  the tenant's token is invalid/expired
    │   │                                                             (a person must re-provision it)
    │   └── ApprovalRequired             409 ads_approval_required    the change goes live only after a
    │                                                                 person approves it
    DependencyUnavailable                503
    └── AdsPlatformError                 502/503 ads_platform_error   the platform failed (5xx, timeout);
        └── AdsRateLimited               503 ads_rate_limited         throttled; ``retry_after_s`` when known

Connectors raise these with the platform's own code in ``provider_code`` (Meta ``error.code``
and ``error_subcode``, Google ``errors[].errorCode``, TikTok ``code``); callers retry only
when ``retriable`` — a create whose outcome is unknown is never blindly retried.
"""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, DependencyUnavailable, ValidationFailed


class AdsRequestRejected(ValidationFailed):
    code = "ads_request_rejected"

    def __init__(self, message: str, *, platform: str, provider_code: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.platform = platform
        self.provider_code = provider_code


class GuardrailViolated(ValidationFailed):
    code = "ads_guardrail_violated"


class AdAccountNotConfigured(Conflict):
    code = "ads_account_not_configured"


class AdsAuthFailed(Conflict):
    code = "ads_account_auth_failed"

    def __init__(self, message: str, *, platform: str, provider_code: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.platform = platform
        self.provider_code = provider_code


class ApprovalRequired(Conflict):
    code = "ads_approval_required"


class AdsPlatformError(DependencyUnavailable):
    code = "ads_platform_error"

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        retriable: bool,
        provider_code: str | None = None,
        retry_after_s: float | None = None,
        http_status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.platform = platform
        self.retriable = retriable
        self.provider_code = provider_code
        self.retry_after_s = retry_after_s
        self.http_status = http_status


class AdsRateLimited(AdsPlatformError):
    code = "ads_rate_limited"

    def __init__(self, message: str, *, platform: str, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, platform=platform, retriable=True, retry_after_s=retry_after_s, **kw)


__all__ = [
    "AdAccountNotConfigured",
    "AdsAuthFailed",
    "AdsPlatformError",
    "AdsRateLimited",
    "AdsRequestRejected",
    "ApprovalRequired",
    "GuardrailViolated",
]
