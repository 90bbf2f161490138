"""Request and response models of the payments routes (part of the OpenAPI contract).

Field names follow the issue's contract: camelCase out (``intentId``, ``invoiceUrl``…),
the request's ``meta`` keeps ``lead_id``/``deal_id`` as the front end sends them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from .schemas import Strict

_DIGITS = re.compile(r"\D")


class CustomerIn(Strict):
    """The payer. The address is optional for a charge; an Asaas dunning (tenant policy
    ``asaas_dunning``) needs it, with a phone: without them the dunning is skipped."""

    name: str = Field(min_length=1, max_length=200)
    cpfCnpj: str = Field(min_length=11, max_length=18, description="CPF (11 digits) or CNPJ (14), punctuation allowed")
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=40)
    postalCode: str | None = Field(None, min_length=8, max_length=9, description="CEP, e.g. 01310-000")
    address: str | None = Field(None, min_length=1, max_length=255, description="street")
    addressNumber: str | None = Field(None, min_length=1, max_length=20)
    complement: str | None = Field(None, max_length=255)
    province: str | None = Field(None, min_length=1, max_length=255, description="neighbourhood (bairro)")

    @field_validator("cpfCnpj")
    @classmethod
    def _digits(cls, value: str) -> str:
        digits = _DIGITS.sub("", value)
        if len(digits) not in (11, 14):
            raise ValueError("must have 11 (CPF) or 14 (CNPJ) digits")
        return digits


class IntentMetaIn(Strict):
    lead_id: UUID | None = None
    deal_id: UUID | None = None


class IntentIn(Strict):
    amount: Decimal = Field(gt=0, le=Decimal("1000000"), decimal_places=2, description="BRL, e.g. 199.90")
    method: Literal["pix", "boleto", "card"]
    customer: CustomerIn
    meta: IntentMetaIn = Field(default_factory=IntentMetaIn)
    description: str | None = Field(None, max_length=500)
    dueInDays: int = Field(3, ge=0, le=365, description="due date = today in Brazil + this many days")


class PixOut(BaseModel):
    payload: str
    encodedImage: str
    expirationDate: str | None = None


class DunningOut(BaseModel):
    """The intent's Asaas dunning (negativação), when its tenant's policy asked for one."""

    status: Literal["requested", "skipped"]
    dunningId: str | None = None
    dunningStatus: str | None = Field(None, description="Asaas's status when it was requested")
    feeValueCents: int | None = Field(None, description="Asaas's fee for the dunning")
    reason: str | None = Field(
        None, description="why it was skipped: customer_incomplete, payment_not_overdue or rejected"
    )
    missing: list[str] | None = Field(None, description="customer fields Asaas requires that are missing")
    paymentStatus: str | None = Field(None, description="the payment's status when it was no longer OVERDUE")
    asaasErrors: list[dict[str, str]] | None = Field(None, description="Asaas's errors[] when it refused")
    at: datetime


class IntentOut(BaseModel):
    intentId: UUID
    status: str
    method: str
    amount: Decimal
    amountCents: int
    invoiceUrl: str | None
    pix: PixOut | None = None
    bankSlipUrl: str | None = None
    asaasPaymentId: str | None
    leadId: UUID | None
    dealId: UUID | None
    dueDate: date | None
    paidAt: datetime | None
    dunning: DunningOut | None = None
    createdAt: datetime
    updatedAt: datetime


class IntentPage(BaseModel):
    items: list[IntentOut]
    next_cursor: str | None


class CardIn(Strict):
    holderName: str = Field(min_length=1, max_length=200)
    number: str = Field(min_length=12, max_length=23)
    expiryMonth: str = Field(min_length=1, max_length=2)
    expiryYear: str = Field(min_length=2, max_length=4)
    ccv: str = Field(min_length=3, max_length=4)


class CardHolderIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    cpfCnpj: str = Field(min_length=11, max_length=18)
    postalCode: str = Field(min_length=5, max_length=12)
    addressNumber: str = Field(min_length=1, max_length=20)
    addressComplement: str | None = Field(None, max_length=100)
    phone: str = Field(min_length=8, max_length=40)
    mobilePhone: str | None = Field(None, max_length=40)


class ConfirmIn(Strict):
    intentId: UUID
    creditCardToken: str | None = Field(None, min_length=1, max_length=255)
    creditCard: CardIn | None = None
    creditCardHolderInfo: CardHolderIn | None = None
    remoteIp: str | None = Field(None, max_length=45, description="the buyer's IP (required with card data)")


class ConfirmOut(BaseModel):
    status: str
    receiptUrl: str | None


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool


class DunningPolicyIn(Strict):
    """What happens when a payment becomes OVERDUE (stored as the tenant's policy)."""

    follow_up: bool = Field(True, description="publish payment.overdue so Luddy follows up with the customer")
    asaas_dunning: bool = Field(
        False,
        description="also ask Asaas, once per payment, to register the debt with a credit bureau "
        "(negativação; needs the customer's address and phone)",
    )


class WebhookProvisionIn(Strict):
    url: str | None = Field(
        None, max_length=500, description="public URL of POST /webhooks/asaas; defaults to this server's"
    )
    email: EmailStr | None = Field(None, description="Asaas e-mails delivery failures here")
    sendType: Literal["SEQUENTIALLY", "NON_SEQUENTIALLY"] = "SEQUENTIALLY"
    events: list[str] | None = Field(None, max_length=60)
    rotateToken: bool = False
    dunningPolicy: DunningPolicyIn | None = Field(None, description="replaces the tenant's dunning policy when given")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class WebhookProvisionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    webhookId: str
    url: str
    sendType: str
    events: list[str]
    enabled: bool
    interrupted: bool
    resumed: bool
    tokenRotated: bool
    dunningPolicy: DunningPolicyIn


def card_models(body: ConfirmIn) -> dict[str, Any]:
    """The connector's card models from the request (secrets stay ``SecretStr``)."""
    from pydantic import SecretStr

    from tools.asaas import CreditCard, CreditCardHolderInfo

    card = (
        CreditCard(
            holder_name=body.creditCard.holderName,
            number=SecretStr(_DIGITS.sub("", body.creditCard.number)),
            expiry_month=body.creditCard.expiryMonth,
            expiry_year=body.creditCard.expiryYear,
            ccv=SecretStr(body.creditCard.ccv),
        )
        if body.creditCard
        else None
    )
    h = body.creditCardHolderInfo
    holder = (
        CreditCardHolderInfo(
            name=h.name,
            email=str(h.email),
            cpf_cnpj=_DIGITS.sub("", h.cpfCnpj),
            postal_code=h.postalCode,
            address_number=h.addressNumber,
            address_complement=h.addressComplement,
            phone=h.phone,
            mobile_phone=h.mobilePhone,
        )
        if h
        else None
    )
    return {"card": card, "holder": holder}


__all__ = [
    "CardHolderIn",
    "CardIn",
    "ConfirmIn",
    "ConfirmOut",
    "CustomerIn",
    "DunningOut",
    "DunningPolicyIn",
    "IntentIn",
    "IntentMetaIn",
    "IntentOut",
    "IntentPage",
    "PixOut",
    "WebhookAck",
    "WebhookProvisionIn",
    "WebhookProvisionOut",
    "card_models",
]
