"""Checkout intents: one Asaas charge per intent, created at most once.

The intent id is derived from (tenant, principal, Idempotency-Key) and travels to Asaas as
``externalReference``. ``AsaasClient.create_payment_once`` looks it up before creating and
after any create whose answer was lost, so the same key never creates a second Asaas
payment — even when an earlier call died half-way (Asaas created the charge, our
transaction never committed): the retry finds that charge and records it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg

from core.errors import ValidationFailed
from core.tenancy import TenantId
from db import crm
from db import payments as q
from db.events import emit
from tools.asaas import (
    AsaasClient,
    AsaasUnavailable,
    BillingType,
    CreditCard,
    CreditCardHolderInfo,
    CreditCardTokenize,
    CustomerCreate,
    PaymentCreate,
    PayWithCreditCard,
)

from .accounts import AsaasAccounts
from .errors import IntegrationMissing, IntentNotPayable
from .reconcile import apply_payment, cents
from .status import is_paid

Method = Literal["pix", "boleto", "card"]
BILLING: dict[str, BillingType] = {
    "pix": BillingType.PIX,
    "boleto": BillingType.BOLETO,
    "card": BillingType.CREDIT_CARD,
}
BRAZIL = timezone(timedelta(hours=-3))  # no DST since 2019; Asaas dates are Brazil dates
_INTENT_NS = uuid.UUID("5b0e6c1e-3a3c-4c8e-9a43-7d1f2f0c5a11")


def intent_id_for(tenant_id: TenantId, principal: str, idempotency_key: str) -> UUID:
    """Same tenant, caller and key → same intent, hence the same Asaas externalReference."""
    return uuid.uuid5(_INTENT_NS, f"{tenant_id}:{principal}:{idempotency_key}")


@dataclass(frozen=True, slots=True)
class CustomerData:
    name: str
    cpf_cnpj: str
    email: str | None = None
    phone: str | None = None
    # Optional for a charge; an Asaas dunning needs them (tools.payments.dunning).
    postal_code: str | None = None
    address: str | None = None
    address_number: str | None = None
    complement: str | None = None
    province: str | None = None


@dataclass(frozen=True, slots=True)
class IntentRequest:
    amount: Decimal
    method: Method
    customer: CustomerData
    lead_id: UUID | None = None
    deal_id: UUID | None = None
    description: str | None = None
    due_in_days: int = 3
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CardPayment:
    intent_id: UUID
    remote_ip: str | None = None
    card_token: str | None = None
    card: CreditCard | None = None
    holder: CreditCardHolderInfo | None = None


def brazil_today() -> date:
    return datetime.now(BRAZIL).date()


async def _client(conn: asyncpg.Connection, tenant_id: TenantId, accounts: AsaasAccounts) -> tuple[AsaasClient, Any]:
    integration = await q.get_integration(conn, tenant_id)
    if integration is None:
        raise IntegrationMissing(
            "this tenant has no Asaas integration; configure it first",
            details={"hint": "POST /admin/integrations/asaas/webhook after setting base URL and key"},
        )
    return accounts.client(integration), integration


async def _resolve_links(
    conn: asyncpg.Connection, tenant_id: TenantId, req: IntentRequest
) -> tuple[UUID | None, UUID | None]:
    lead_id, deal_id = req.lead_id, req.deal_id
    if deal_id is not None:
        row = await conn.fetchrow("select lead_id from deals where tenant_id = $1 and id = $2", tenant_id, deal_id)
        if row is None:
            raise ValidationFailed(
                "meta.deal_id does not exist", details=[{"loc": ["body", "meta", "deal_id"], "msg": "not found"}]
            )
        if lead_id is not None and row["lead_id"] != lead_id:
            raise ValidationFailed(
                "the deal belongs to another lead", details=[{"loc": ["body", "meta", "deal_id"], "msg": "mismatch"}]
            )
        lead_id = row["lead_id"]
    elif lead_id is not None:
        await crm.get_lead(conn, tenant_id, lead_id)
    return lead_id, deal_id


async def create_intent(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    intent_id: UUID,
    req: IntentRequest,
    accounts: AsaasAccounts,
) -> dict[str, Any]:
    """Create (or recover) the Asaas charge of ``intent_id`` and record the intent."""
    lead_id, deal_id = await _resolve_links(conn, tenant_id, req)
    client, integration = await _client(conn, tenant_id, accounts)
    reference = f"tridium-lead:{lead_id}" if lead_id else None
    customer = await client.ensure_customer(
        CustomerCreate(
            name=req.customer.name,
            cpf_cnpj=req.customer.cpf_cnpj,
            email=req.customer.email,
            mobile_phone=req.customer.phone,
            postal_code=req.customer.postal_code,
            address=req.customer.address,
            address_number=req.customer.address_number,
            complement=req.customer.complement,
            province=req.customer.province,
            external_reference=reference,
        )
    )
    due = brazil_today() + timedelta(days=req.due_in_days)
    payment = await client.create_payment_once(
        str(intent_id),
        PaymentCreate(
            customer=customer.id,
            billing_type=BILLING[req.method],
            value=req.amount,
            due_date=due,
            description=req.description,
        ),
    )
    meta: dict[str, Any] = {**req.meta, "bank_slip_url": payment.bank_slip_url}
    if req.method == "pix":
        qr = await client.get_pix_qr_code(payment.id)
        meta["pix"] = {
            "payload": qr.payload,
            "encodedImage": qr.encoded_image,
            "expirationDate": qr.expiration_date.isoformat() if qr.expiration_date else None,
        }
    intent = await q.insert_intent(
        conn,
        tenant_id,
        {
            "id": intent_id,
            "external_id": payment.id,
            "deal_id": deal_id,
            "lead_id": lead_id,
            "method": req.method,
            "amount_cents": cents(req.amount),
            "status": "PENDING",
            "url": payment.invoice_url,
            "meta": meta,
            "customer_id": customer.id,
            "due_date": payment.due_date,
        },
    )
    await emit(
        conn,
        tenant_id,
        "payment.intent_created",
        {
            "intent_id": str(intent_id),
            "payment_id": payment.id,
            "method": req.method,
            "amount_cents": intent["amount_cents"],
            "lead_id": str(lead_id) if lead_id else None,
            "deal_id": str(deal_id) if deal_id else None,
        },
    )
    # Record the payment as Asaas has it now (a recovered charge may already be paid).
    await apply_payment(
        conn,
        tenant_id,
        intent,
        payment,
        authoritative=True,
        source="intent",
        dunning_policy=integration.dunning_policy,
    )
    return intent_view(await q.get_intent(conn, tenant_id, intent_id))


async def confirm_card(
    conn: asyncpg.Connection, tenant_id: TenantId, pay: CardPayment, accounts: AsaasAccounts
) -> dict[str, Any]:
    """Charge a card against a card intent. Declines raise ``AsaasCardDeclined`` (402)."""
    intent = await q.get_intent(conn, tenant_id, pay.intent_id, for_update=True)
    if intent["method"] != "card":
        raise IntentNotPayable("only card intents are confirmed here", details={"method": intent["method"]})
    client, integration = await _client(conn, tenant_id, accounts)
    if is_paid(intent["status"]):
        payment = await client.get_payment(intent["external_id"])
        return {"status": payment.status, "receiptUrl": payment.transaction_receipt_url}
    if intent["status"] not in ("PENDING", "OVERDUE"):
        raise IntentNotPayable("this intent can no longer be paid", details={"status": intent["status"]})
    token = pay.card_token
    if token is None:
        if pay.card is None or pay.holder is None or not pay.remote_ip:
            raise ValidationFailed(
                "send creditCardToken, or creditCard + creditCardHolderInfo + remoteIp",
                details=[{"loc": ["body"], "msg": "card data incomplete"}],
            )
        tokenized = await client.tokenize_credit_card(
            CreditCardTokenize(
                customer=intent["customer_id"],
                credit_card=pay.card,
                credit_card_holder_info=pay.holder,
                remote_ip=pay.remote_ip,
            )
        )
        token = tokenized.credit_card_token
    try:
        payment = await client.pay_with_credit_card(intent["external_id"], PayWithCreditCard(credit_card_token=token))
    except AsaasUnavailable as exc:
        # The answer was lost: Asaas may have charged. Its current state decides.
        payment = await client.get_payment(intent["external_id"])
        if not is_paid(payment.status):
            raise exc from None
    await apply_payment(
        conn,
        tenant_id,
        intent,
        payment,
        authoritative=True,
        source="card_confirm",
        dunning_policy=integration.dunning_policy,
    )
    return {"status": payment.status, "receiptUrl": payment.transaction_receipt_url}


def intent_view(intent: dict[str, Any]) -> dict[str, Any]:
    """The API shape of an intent (camelCase, as in the issue's contract)."""
    meta = intent.get("meta") or {}
    return {
        "intentId": intent["id"],
        "status": intent["status"],
        "method": intent["method"],
        "amount": Decimal(intent["amount_cents"]) / 100,
        "amountCents": intent["amount_cents"],
        "invoiceUrl": intent["url"],
        "pix": meta.get("pix"),
        "bankSlipUrl": meta.get("bank_slip_url") if intent["method"] == "boleto" else None,
        "asaasPaymentId": intent["external_id"],
        "leadId": intent["lead_id"],
        "dealId": intent["deal_id"],
        "dueDate": intent["due_date"],
        "paidAt": intent["paid_at"],
        "dunning": meta.get("dunning"),
        "createdAt": intent["created_at"],
        "updatedAt": intent["updated_at"],
    }


__all__ = [
    "BILLING",
    "CardPayment",
    "CustomerData",
    "IntentRequest",
    "brazil_today",
    "confirm_card",
    "create_intent",
    "intent_id_for",
    "intent_view",
]
