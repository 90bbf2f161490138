"""Asaas (payments) connector.

Public surface: ``AsaasClient`` over an injected ``httpx.AsyncClient``, its ``AsaasConfig``,
the request/response models, and the errors (all ``core.errors`` subclasses). The local
sandbox server that speaks the same protocol lives in ``tools.asaas.sandbox``.
"""

from .client import AsaasClient
from .config import PRODUCTION_BASE_URL, SANDBOX_BASE_URL, AsaasConfig
from .errors import (
    AsaasAuthFailed,
    AsaasCardDeclined,
    AsaasError,
    AsaasNotFound,
    AsaasOutcomeUnknown,
    AsaasRateLimited,
    AsaasRequestRejected,
    AsaasUnavailable,
)
from .models import (
    BillingType,
    CreditCard,
    CreditCardHolderInfo,
    CreditCardToken,
    CreditCardTokenize,
    Customer,
    CustomerCreate,
    DeleteResult,
    Page,
    Payment,
    PaymentCreate,
    PaymentFilter,
    PaymentStatus,
    PayWithCreditCard,
    PixQrCode,
    RefundRequest,
    Webhook,
    WebhookCreate,
    WebhookEvent,
    WebhookSendType,
    WebhookUpdate,
)

__all__ = [
    "PRODUCTION_BASE_URL",
    "SANDBOX_BASE_URL",
    "AsaasAuthFailed",
    "AsaasCardDeclined",
    "AsaasClient",
    "AsaasConfig",
    "AsaasError",
    "AsaasNotFound",
    "AsaasOutcomeUnknown",
    "AsaasRateLimited",
    "AsaasRequestRejected",
    "AsaasUnavailable",
    "BillingType",
    "CreditCard",
    "CreditCardHolderInfo",
    "CreditCardToken",
    "CreditCardTokenize",
    "Customer",
    "CustomerCreate",
    "DeleteResult",
    "Page",
    "PayWithCreditCard",
    "Payment",
    "PaymentCreate",
    "PaymentFilter",
    "PaymentStatus",
    "PixQrCode",
    "RefundRequest",
    "Webhook",
    "WebhookCreate",
    "WebhookEvent",
    "WebhookSendType",
    "WebhookUpdate",
]
