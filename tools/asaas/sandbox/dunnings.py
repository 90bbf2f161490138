"""Payment dunnings (negativação) in the sandbox (reference §12.2 and the §11 sequence
``OVERDUE → DUNNING_REQUESTED (→ DUNNING_RECEIVED)``).

As Asaas documents it: a create (multipart/form-data, the ``customer*`` fields required)
on an OVERDUE payment; get, list (``status``, ``type``, ``payment``, request dates),
simulate (``?payment=``), cancel; the statuses PENDING, AWAITING_APPROVAL,
AWAITING_CANCELLATION, PROCESSED, PAID, DENIED, CANCELLED; the events
``PAYMENT_DUNNING_REQUESTED`` and ``PAYMENT_DUNNING_RECEIVED``.

Simulated — Tridium's choices where Asaas documents nothing:

- a create leaves the dunning PENDING and the payment DUNNING_REQUESTED, and fires
  ``PAYMENT_DUNNING_REQUESTED`` at once;
- Asaas's own progress is driven by a Tridium-only control,
  ``POST /v3/sandbox/paymentDunnings/{id}/advance``: PENDING → AWAITING_APPROVAL →
  PROCESSED, AWAITING_CANCELLATION → CANCELLED;
- the debtor paying through the bureau is ``POST /v3/sandbox/paymentDunnings/{id}/receive``
  (Tridium-only, in the style of Asaas's ``/v3/sandbox/payment/{id}/confirm``): dunning PAID,
  payment DUNNING_RECEIVED, ``PAYMENT_DUNNING_RECEIVED``;
- cancel: PENDING/AWAITING_APPROVAL → CANCELLED at once, PROCESSED → AWAITING_CANCELLATION;
  once CANCELLED the payment is OVERDUE again and ``PAYMENT_UPDATED`` fires (guess);
- a flat fee (``SandboxConfig.dunning_fee``), not Asaas's price list;
- card installments, which Asaas refuses, cannot occur: the sandbox creates no installments.

Error codes marked "guess" are not in the reference; the shape always is.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from . import payments
from .config import SandboxConfig
from .customers import valid_cpf_cnpj
from .store import ApiError, DunningRec, PaymentRec, Store, not_found

CREDIT_BUREAU = "CREDIT_BUREAU"
TYPES = (CREDIT_BUREAU, "DEBT_RECOVERY_ASSISTANCE")
OPEN = ("PENDING", "AWAITING_APPROVAL", "PROCESSED")
NEXT_STATUS = {"PENDING": "AWAITING_APPROVAL", "AWAITING_APPROVAL": "PROCESSED", "AWAITING_CANCELLATION": "CANCELLED"}
START_AFTER_BUSINESS_DAYS = 1  # simulate's startDate (guess)
# (form field, error code, message); checked in this order, stopping at the first miss.
REQUIRED_CUSTOMER_FIELDS = (
    ("customerName", "invalid_customerName", "Informe o nome do cliente."),
    ("customerCpfCnpj", "invalid_customerCpfCnpj", "Informe o CPF/CNPJ do cliente."),
    ("customerPrimaryPhone", "invalid_customerPrimaryPhone", "Informe o telefone do cliente."),
    ("customerPostalCode", "invalid_customerPostalCode", "Informe o CEP do cliente."),
    ("customerAddress", "invalid_customerAddress", "Informe o endereço do cliente."),
    ("customerAddressNumber", "invalid_customerAddressNumber", "Informe o número do endereço do cliente."),
    ("customerProvince", "invalid_customerProvince", "Informe o bairro do cliente."),
)
OPTIONAL_CUSTOMER_FIELDS = ("customerSecondaryPhone", "customerComplement")


def _bad(code: str, description: str) -> ApiError:
    return ApiError(400, code, description)


def _payment(store: Store, payment_id: Any) -> PaymentRec:
    rec = store.state.payments.get(str(payment_id or ""))
    if rec is None or rec.deleted:
        raise _bad("invalid_payment", "Cobrança inválida ou não informada.")  # guess
    return rec


def not_allowed_reason(store: Store, rec: PaymentRec) -> str | None:
    """Why this payment cannot get a CREDIT_BUREAU dunning now, or None."""
    if rec.status == "DUNNING_REQUESTED" or any(
        d.payment == rec.id and d.status in (*OPEN, "AWAITING_CANCELLATION") for d in store.state.dunnings.values()
    ):
        return "Já existe uma negativação em andamento para esta cobrança."  # guess
    if rec.status != "OVERDUE":
        return "Somente cobranças vencidas podem ser negativadas."  # guess
    return None


def _emit(store: Store, config: SandboxConfig, event: str, rec: PaymentRec) -> None:
    store.emit(event, "payment", payments.render(config, rec))


def create(store: Store, config: SandboxConfig, body: dict[str, str], documents: list[str] | None = None) -> DunningRec:
    """``POST /v3/paymentDunnings``; validation stops at the first error, like Asaas."""
    payment = _payment(store, body.get("payment"))
    if body.get("type") != CREDIT_BUREAU:
        raise _bad("invalid_type", "Informe um tipo de negativação válido.")  # guess
    if (reason := not_allowed_reason(store, payment)) is not None:
        raise _bad("invalid_action", reason)
    customer: dict[str, str] = {}
    for name, code, description in REQUIRED_CUSTOMER_FIELDS:
        value = str(body.get(name) or "").strip()
        if not value:
            raise _bad(code, description)
        customer[name] = value
    cpf = "".join(ch for ch in customer["customerCpfCnpj"] if ch.isdigit())
    if not valid_cpf_cnpj(cpf):
        raise _bad("invalid_customerCpfCnpj", "O CPF/CNPJ informado é inválido.")
    customer["customerCpfCnpj"] = cpf
    customer.update({k: str(body[k]) for k in OPTIONAL_CUSTOMER_FIELDS if body.get(k)})
    now = store.now()
    fee = min(config.dunning_fee, payment.value)
    rec = DunningRec(
        id=str(uuid.UUID(int=store.rng.getrandbits(128), version=4)),
        dunning_number=store.next_seq(),
        payment=payment.id,
        type=CREDIT_BUREAU,
        status="PENDING",
        request_date=now.date(),
        created_at=now,
        value=payment.value,
        fee_value=fee,
        net_value=payment.value - fee,
        customer=customer,
        description=body.get("description") or None,
        documents=list(documents or []),
    )
    store.state.dunnings[rec.id] = rec
    payment.status = "DUNNING_REQUESTED"
    _emit(store, config, "PAYMENT_DUNNING_REQUESTED", payment)
    return rec


def get(store: Store, dunning_id: str) -> DunningRec:
    rec = store.state.dunnings.get(dunning_id)
    if rec is None:
        raise not_found()
    return rec


def search(store: Store, query: dict[str, str]) -> list[DunningRec]:
    """Filters of ``GET /v3/paymentDunnings``; newest first."""
    found = list(store.state.dunnings.values())
    for key in ("status", "type", "payment"):
        if key in query:
            found = [d for d in found if getattr(d, key) == query[key]]
    for key, after in (("requestStartDate", True), ("requestEndDate", False)):
        if key in query:
            try:
                bound = date.fromisoformat(query[key])
            except ValueError:
                raise _bad("invalid_object", f"{key} inválido.") from None  # guess
            found = [d for d in found if (d.request_date >= bound if after else d.request_date <= bound)]
    return sorted(found, key=lambda d: d.dunning_number, reverse=True)


def simulate(store: Store, config: SandboxConfig, payment_id: str | None) -> dict[str, Any]:
    payment = _payment(store, payment_id)
    reason = not_allowed_reason(store, payment)
    fee = min(config.dunning_fee, payment.value)
    return {
        "payment": payment.id,
        "value": payment.value,
        "typeSimulations": [
            {
                "type": CREDIT_BUREAU,
                "isAllowed": reason is None,
                "notAllowedReason": reason,
                "feeValue": fee,
                "netValue": payment.value - fee,
                "startDate": payments.add_business_days(store.today(), START_AFTER_BUSINESS_DAYS).isoformat(),
            }
        ],
    }


def _reopen_payment(store: Store, config: SandboxConfig, rec: DunningRec) -> None:
    payment = store.state.payments[rec.payment]
    if payment.status == "DUNNING_REQUESTED":
        payment.status = "OVERDUE"
        _emit(store, config, "PAYMENT_UPDATED", payment)  # guess: Asaas documents no event here


def cancel(store: Store, config: SandboxConfig, dunning_id: str) -> DunningRec:
    rec = get(store, dunning_id)
    if rec.status not in OPEN:
        raise _bad("invalid_action", _cannot_cancel_reason(rec) or "")
    if rec.status == "PROCESSED":  # already at the bureau: its removal takes a while
        rec.status = "AWAITING_CANCELLATION"
    else:
        rec.status = "CANCELLED"
        _reopen_payment(store, config, rec)
    store.touch()
    return rec


def advance(store: Store, config: SandboxConfig, dunning_id: str) -> DunningRec:
    """(Tridium sandbox control) the next step Asaas would take on its own."""
    rec = get(store, dunning_id)
    following = NEXT_STATUS.get(rec.status)
    if following is None:
        raise _bad("invalid_action", f"(Tridium sandbox) nada a avançar a partir de {rec.status}.")
    rec.status = following
    if following == "CANCELLED":
        _reopen_payment(store, config, rec)
    store.touch()
    return rec


def receive(store: Store, config: SandboxConfig, dunning_id: str) -> DunningRec:
    """(Tridium sandbox control) the debtor pays through the dunning: money recovered."""
    rec = get(store, dunning_id)
    if rec.status not in OPEN:
        raise _bad("invalid_action", f"(Tridium sandbox) negativação {rec.status} não pode ser recebida.")
    rec.status = "PAID"
    payment = store.state.payments[rec.payment]
    today = store.today()
    payment.status = "DUNNING_RECEIVED"
    payment.client_payment_date = payment.payment_date = payment.credit_date = today
    payment.estimated_credit_date = today
    _emit(store, config, "PAYMENT_DUNNING_RECEIVED", payment)
    return rec


def _cannot_cancel_reason(rec: DunningRec) -> str | None:
    if rec.status in OPEN:
        return None
    if rec.status in ("CANCELLED", "AWAITING_CANCELLATION"):
        return "Esta negativação já foi cancelada."  # guess
    return f"Negativações com situação {rec.status} não podem ser canceladas."  # guess


def render(rec: DunningRec) -> dict[str, Any]:
    """The ``PaymentDunning…ResponseDTO`` shape (the customer data sent is not echoed)."""
    reason = _cannot_cancel_reason(rec)
    return {
        "id": rec.id,
        "dunningNumber": rec.dunning_number,
        "status": rec.status,
        "type": rec.type,
        "payment": rec.payment,
        "requestDate": rec.request_date.isoformat(),
        "description": rec.description,
        "value": rec.value,
        "feeValue": rec.fee_value,
        "netValue": rec.net_value,
        "receivedInCashFeeValue": None,
        "cancellationFeeValue": None,
        "denialReason": rec.denial_reason,
        "canBeCancelled": reason is None,
        "cannotBeCancelledReason": reason,
        "isNecessaryResendDocumentation": False,
    }


__all__ = ["advance", "cancel", "create", "get", "not_allowed_reason", "receive", "render", "search", "simulate"]
