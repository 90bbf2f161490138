"""Pydantic models of the Asaas v3 requests and responses the connector uses.

Why these shapes:

- Python names are snake_case; the wire is Asaas's camelCase (``alias_generator``).
- Responses ignore unknown fields (Asaas adds fields without notice) and keep enums such as
  ``status`` as plain ``str``: an unexpected new status must not make a payment unreadable
  for the reconciler. Compare against the ``StrEnum`` constants below.
- Money is ``Decimal`` inside and a JSON number on the wire, as Asaas expects.
- Card number and CCV are ``SecretStr``: they are revealed only when the request body is
  built (``to_body()``), never by ``repr``, logs or ``model_dump_json()``.
- Everything that crosses a process boundary is frozen.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    field_serializer,
)
from pydantic.alias_generators import to_camel

Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class BillingType(StrEnum):
    UNDEFINED = "UNDEFINED"
    BOLETO = "BOLETO"
    CREDIT_CARD = "CREDIT_CARD"
    PIX = "PIX"


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    RECEIVED = "RECEIVED"
    CONFIRMED = "CONFIRMED"
    OVERDUE = "OVERDUE"
    REFUNDED = "REFUNDED"
    RECEIVED_IN_CASH = "RECEIVED_IN_CASH"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    REFUND_IN_PROGRESS = "REFUND_IN_PROGRESS"
    AUTHORIZED = "AUTHORIZED"
    AWAITING_RISK_ANALYSIS = "AWAITING_RISK_ANALYSIS"
    DUNNING_REQUESTED = "DUNNING_REQUESTED"
    DUNNING_RECEIVED = "DUNNING_RECEIVED"


class WebhookSendType(StrEnum):
    SEQUENTIALLY = "SEQUENTIALLY"
    NON_SEQUENTIALLY = "NON_SEQUENTIALLY"


class AsaasModel(BaseModel):
    """camelCase on the wire, snake_case in Python, frozen, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    def to_body(self) -> dict[str, Any]:
        """The JSON body Asaas expects: camelCase, no nulls, secrets revealed."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json", context={"reveal_secrets": True})


class AsaasErrorItem(AsaasModel):
    code: str
    description: str = ""


T = TypeVar("T")


class Page(AsaasModel, Generic[T]):
    """The list envelope of every Asaas list endpoint."""

    object: str = "list"
    has_more: bool
    total_count: int
    limit: int
    offset: int
    data: list[T]


class DeleteResult(AsaasModel):
    deleted: bool
    id: str


# --- customers ------------------------------------------------------------------------


class CustomerCreate(AsaasModel):
    """``POST /v3/customers``. Asaas allows duplicates: look up before creating."""

    name: str
    cpf_cnpj: str
    email: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    address: str | None = None
    address_number: str | None = None
    complement: str | None = None
    province: str | None = None
    postal_code: str | None = None
    external_reference: str | None = None
    notification_disabled: bool | None = None
    observations: str | None = None


class Customer(AsaasModel):
    object: str = "customer"
    id: str
    date_created: date | None = None
    name: str
    cpf_cnpj: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    person_type: str | None = None
    address: str | None = None
    address_number: str | None = None
    complement: str | None = None
    province: str | None = None
    postal_code: str | None = None
    external_reference: str | None = None
    notification_disabled: bool | None = None
    deleted: bool = False


# --- cards ----------------------------------------------------------------------------


class CreditCard(AsaasModel):
    holder_name: str
    number: SecretStr
    expiry_month: str
    expiry_year: str
    ccv: SecretStr

    @field_serializer("number", "ccv")
    def _reveal(self, value: SecretStr, info: SerializationInfo) -> str:
        ctx = info.context or {}
        return value.get_secret_value() if ctx.get("reveal_secrets") else str(value)


class CreditCardHolderInfo(AsaasModel):
    name: str
    email: str
    cpf_cnpj: str
    postal_code: str
    address_number: str
    address_complement: str | None = None
    phone: str
    mobile_phone: str | None = None


class CreditCardTokenize(AsaasModel):
    """``POST /v3/creditCard/tokenizeCreditCard``. The token is bound to ``customer``."""

    customer: str
    credit_card: CreditCard
    credit_card_holder_info: CreditCardHolderInfo
    remote_ip: str


class CreditCardToken(AsaasModel):
    credit_card_number: str
    credit_card_brand: str
    credit_card_token: str


class PayWithCreditCard(AsaasModel):
    """``POST /v3/payments/{id}/payWithCreditCard``: a card, or a token alone."""

    credit_card: CreditCard | None = None
    credit_card_holder_info: CreditCardHolderInfo | None = None
    credit_card_token: str | None = None


class PaymentCreditCard(AsaasModel):
    credit_card_number: str | None = None
    credit_card_brand: str | None = None
    credit_card_token: str | None = None


# --- payments -------------------------------------------------------------------------


class PaymentCreate(AsaasModel):
    """``POST /v3/payments``. For CREDIT_CARD add ``remote_ip`` (the buyer's) and either
    ``credit_card`` + ``credit_card_holder_info`` or ``credit_card_token``; without card
    data the charge stays PENDING until paid."""

    customer: str
    billing_type: BillingType
    value: Money
    due_date: date
    description: str | None = Field(default=None, max_length=500)
    external_reference: str | None = None
    days_after_due_date_to_registration_cancellation: int | None = None
    installment_count: int | None = None
    total_value: Money | None = None
    installment_value: Money | None = None
    postal_service: bool | None = None
    credit_card: CreditCard | None = None
    credit_card_holder_info: CreditCardHolderInfo | None = None
    credit_card_token: str | None = None
    remote_ip: str | None = None


class Refund(AsaasModel):
    date_created: datetime | None = None
    status: str
    value: Money
    description: str | None = None
    transaction_receipt_url: str | None = None


class Payment(AsaasModel):
    object: str = "payment"
    id: str
    date_created: date
    customer: str
    subscription: str | None = None
    installment: str | None = None
    value: Money
    net_value: Money | None = None
    description: str | None = None
    billing_type: str
    status: str
    due_date: date
    original_due_date: date | None = None
    payment_date: date | None = None
    client_payment_date: date | None = None
    confirmed_date: date | None = None
    credit_date: date | None = None
    estimated_credit_date: date | None = None
    invoice_url: str | None = None
    bank_slip_url: str | None = None
    transaction_receipt_url: str | None = None
    nosso_numero: str | None = None
    external_reference: str | None = None
    deleted: bool = False
    credit_card: PaymentCreditCard | None = None
    refunds: list[Refund] | None = None


class PaymentFilter(AsaasModel):
    """Filters of ``GET /v3/payments``; ``*_ge``/``*_le`` become ``name[ge]``/``name[le]``."""

    customer: str | None = None
    billing_type: BillingType | None = None
    status: PaymentStatus | None = None
    external_reference: str | None = None
    subscription: str | None = None
    date_created_ge: date | None = None
    date_created_le: date | None = None
    payment_date_ge: date | None = None
    payment_date_le: date | None = None
    due_date_ge: date | None = None
    due_date_le: date | None = None
    estimated_credit_date_ge: date | None = None
    estimated_credit_date_le: date | None = None

    def to_query(self) -> dict[str, str]:
        query: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True, mode="json").items():
            for suffix in ("_ge", "_le"):
                if name.endswith(suffix):
                    query[f"{to_camel(name.removesuffix(suffix))}[{suffix[1:]}]"] = value
                    break
            else:
                query[to_camel(name)] = value
        return query


class RefundRequest(AsaasModel):
    """``POST /v3/payments/{id}/refund``; no ``value`` means a full refund."""

    value: Money | None = None
    description: str | None = None


class PixQrCode(AsaasModel):
    encoded_image: str
    payload: str
    expiration_date: datetime | None = None
    description: str | None = None


# --- webhooks -------------------------------------------------------------------------


class WebhookCreate(AsaasModel):
    """``POST /v3/webhooks``. Send every field; the token is echoed back as the
    ``asaas-access-token`` header of each delivery (32..255 characters)."""

    name: str
    url: str
    email: str
    enabled: bool = True
    interrupted: bool = False
    api_version: int = 3
    auth_token: SecretStr = Field(min_length=32, max_length=255)
    send_type: WebhookSendType = WebhookSendType.SEQUENTIALLY
    events: list[str]

    @field_serializer("auth_token")
    def _reveal(self, value: SecretStr, info: SerializationInfo) -> str:
        ctx = info.context or {}
        return value.get_secret_value() if ctx.get("reveal_secrets") else str(value)


class WebhookUpdate(AsaasModel):
    """``PUT /v3/webhooks/{id}``; ``interrupted=False`` resumes a paused queue."""

    name: str | None = None
    url: str | None = None
    email: str | None = None
    enabled: bool | None = None
    interrupted: bool | None = None
    auth_token: SecretStr | None = Field(default=None, min_length=32, max_length=255)
    send_type: WebhookSendType | None = None
    events: list[str] | None = None

    @field_serializer("auth_token")
    def _reveal(self, value: SecretStr | None, info: SerializationInfo) -> str | None:
        if value is None:
            return None
        ctx = info.context or {}
        return value.get_secret_value() if ctx.get("reveal_secrets") else str(value)


class Webhook(AsaasModel):
    id: str
    name: str
    url: str
    email: str | None = None
    enabled: bool
    interrupted: bool
    api_version: int | None = None
    has_auth_token: bool = False
    send_type: str
    penalized_requests_count: int | None = None
    events: list[str] = []


class WebhookEvent(AsaasModel):
    """The envelope Asaas POSTs to a webhook. ``id`` repeats on redelivery: dedupe on it."""

    id: str
    event: str
    date_created: datetime
    payment: Payment | None = None


__all__ = [
    "AsaasErrorItem",
    "AsaasModel",
    "BillingType",
    "CreditCard",
    "CreditCardHolderInfo",
    "CreditCardToken",
    "CreditCardTokenize",
    "Customer",
    "CustomerCreate",
    "DeleteResult",
    "Money",
    "Page",
    "PayWithCreditCard",
    "Payment",
    "PaymentCreate",
    "PaymentCreditCard",
    "PaymentFilter",
    "PaymentStatus",
    "PixQrCode",
    "Refund",
    "RefundRequest",
    "Webhook",
    "WebhookCreate",
    "WebhookEvent",
    "WebhookSendType",
    "WebhookUpdate",
]
