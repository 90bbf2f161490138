"""Models of Asaas payment dunnings (negativação, ``/v3/paymentDunnings``; reference §12.2).

A dunning asks Asaas to register an OVERDUE payment's customer with a credit bureau
(Serasa). It is requested once per payment: Asaas has no idempotency header, so before
retrying a create whose answer was lost the connector lists by ``payment``
(``AsaasClient.create_payment_dunning_once``), as it does for payments by
``externalReference``.

The create is ``multipart/form-data`` (Asaas documents a ``documents`` file field), so
``PaymentDunningCreate.to_multipart()`` builds form parts instead of a JSON body. Same
conventions as ``models``: camelCase on the wire, statuses kept as ``str`` in responses.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from .models import AsaasModel, Money

# httpx ``files=`` parts: (field name, (filename or None for a plain field, content[, type]))
FormPart = tuple[str, tuple[str | None, bytes] | tuple[str | None, bytes, str]]


class DunningType(StrEnum):
    CREDIT_BUREAU = "CREDIT_BUREAU"  # the only type a create accepts
    DEBT_RECOVERY_ASSISTANCE = "DEBT_RECOVERY_ASSISTANCE"  # list filter only


class DunningStatus(StrEnum):
    PENDING = "PENDING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    AWAITING_CANCELLATION = "AWAITING_CANCELLATION"
    PROCESSED = "PROCESSED"
    PAID = "PAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"


# A dunning in one of these no longer stands for its payment: a new one may be requested.
CLOSED_DUNNING_STATUSES = frozenset({DunningStatus.CANCELLED, DunningStatus.DENIED})


class DunningDocument(AsaasModel):
    """A file sent as the ``documents`` field (e.g. the contract the debt comes from)."""

    filename: str = Field(min_length=1, max_length=255)
    content: bytes = Field(repr=False)
    content_type: str = "application/pdf"


class PaymentDunningCreate(AsaasModel):
    """``POST /v3/paymentDunnings``. Every ``customer*`` field below without a default is
    required by Asaas; the payment must be OVERDUE."""

    payment: str
    type: DunningType = DunningType.CREDIT_BUREAU
    description: str | None = None
    customer_name: str = Field(min_length=1)
    customer_cpf_cnpj: str = Field(min_length=11)
    customer_primary_phone: str = Field(min_length=1)
    customer_secondary_phone: str | None = None
    customer_postal_code: str = Field(min_length=1)
    customer_address: str = Field(min_length=1)
    customer_address_number: str = Field(min_length=1)
    customer_complement: str | None = None
    customer_province: str = Field(min_length=1)
    documents: list[DunningDocument] = Field(default_factory=list, exclude=True)

    def to_multipart(self) -> list[FormPart]:
        """The form parts: one plain field per set value, then one file per document."""
        parts: list[FormPart] = [(name, (None, str(value).encode())) for name, value in self.to_body().items()]
        parts += [("documents", (d.filename, d.content, d.content_type)) for d in self.documents]
        return parts


class PaymentDunning(AsaasModel):
    id: str
    dunning_number: int | None = None
    status: str
    type: str | None = None
    payment: str | None = None
    request_date: date | None = None
    description: str | None = None
    value: Money | None = None
    fee_value: Money | None = None
    net_value: Money | None = None
    received_in_cash_fee_value: Money | None = None
    cancellation_fee_value: Money | None = None
    denial_reason: str | None = None
    can_be_cancelled: bool | None = None
    cannot_be_cancelled_reason: str | None = None
    is_necessary_resend_documentation: bool | None = None


class PaymentDunningFilter(AsaasModel):
    """Filters of ``GET /v3/paymentDunnings``."""

    status: DunningStatus | None = None
    type: DunningType | None = None
    payment: str | None = None
    request_start_date: date | None = None
    request_end_date: date | None = None

    def to_query(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.model_dump(by_alias=True, exclude_none=True, mode="json").items()}


class DunningTypeSimulation(AsaasModel):
    type: str
    is_allowed: bool
    not_allowed_reason: str | None = None
    fee_value: Money | None = None
    net_value: Money | None = None
    start_date: date | None = None


class PaymentDunningSimulation(AsaasModel):
    """``POST /v3/paymentDunnings/simulate?payment=…``: per type, allowed or why not."""

    payment: str
    value: Money | None = None
    type_simulations: list[DunningTypeSimulation] = Field(default_factory=list)


__all__ = [
    "CLOSED_DUNNING_STATUSES",
    "DunningDocument",
    "DunningStatus",
    "DunningType",
    "DunningTypeSimulation",
    "FormPart",
    "PaymentDunning",
    "PaymentDunningCreate",
    "PaymentDunningFilter",
    "PaymentDunningSimulation",
]
