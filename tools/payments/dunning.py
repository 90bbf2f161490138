"""The optional Asaas dunning (negativação): requested once per OVERDUE payment, by policy.

When a payment becomes OVERDUE under a tenant policy with ``asaas_dunning: true``,
``apply_payment`` writes the internal event ``asaas.dunning.due`` in the same transaction
(outbox: at least once). The ``PaymentsWorker`` handles it with ``request_dunning`` inside
the event's tenant transaction, and the intent's ``meta.dunning`` record makes it at most
once:

1. lock the intent row (concurrent handlers of the same payment queue up here); a
   recorded ``meta.dunning`` — requested or skipped — ends it;
2. policy switched off since → nothing to do;
3. a dunning already at Asaas for the payment (an earlier attempt whose transaction rolled
   back after Asaas accepted it) is adopted, never requested again;
4. the payment must still be OVERDUE (re-read from Asaas) and its Asaas customer must have
   what Asaas requires (name, CPF/CNPJ, a phone, postal code, address, number, province);
   otherwise the reason is recorded (``meta.dunning``, ``payment.dunning_skipped``, and an
   ``error_logs`` row when someone must fix data) and Asaas is not called;
5. ``create_payment_dunning_once`` (look-up before any retry of a lost create); a 400 from
   Asaas is recorded like a skip — retrying would not change its answer;
6. record ``meta.dunning`` and publish ``payment.dunning_requested``.

Transport failures propagate: the stream entry is retried and dead-lettered after
``max_deliveries``, so an outage delays the request and a dead Asaas never loops forever.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic.alias_generators import to_camel

from core.tenancy import TenantId
from db import payments as q
from db.events import emit
from tools.asaas import AsaasRequestRejected, Customer, Payment, PaymentDunningCreate, PaymentStatus

from .accounts import AsaasAccounts
from .policy import DunningPolicy
from .reconcile import cents, event_base, local_status

log = logging.getLogger("tridium.payments")

SOURCE = "payments.dunning"


def dunning_request(payment: Payment, customer: Customer) -> PaymentDunningCreate | list[str]:
    """The dunning request for ``payment`` from its Asaas customer, or the names of the
    customer fields Asaas requires that are missing."""
    primary = customer.mobile_phone or customer.phone
    required = {
        "name": customer.name,
        "cpfCnpj": customer.cpf_cnpj,
        "mobilePhone or phone": primary,
        "postalCode": customer.postal_code,
        "address": customer.address,
        "addressNumber": customer.address_number,
        "province": customer.province,
    }
    missing = [field for field, value in required.items() if not (value or "").strip()]
    if missing:
        return missing
    assert customer.cpf_cnpj and primary and customer.postal_code and customer.address  # for mypy
    assert customer.address_number and customer.province
    return PaymentDunningCreate(
        payment=payment.id,
        description=payment.description,
        customer_name=customer.name,
        customer_cpf_cnpj=customer.cpf_cnpj,
        customer_primary_phone=primary,
        customer_secondary_phone=customer.phone if customer.phone and customer.phone != primary else None,
        customer_postal_code=customer.postal_code,
        customer_address=customer.address,
        customer_address_number=customer.address_number,
        customer_complement=customer.complement or None,
        customer_province=customer.province,
    )


async def _skip(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    intent: dict[str, Any],
    payment_id: str,
    reason: str,
    *,
    log_error: bool,
    **details: Any,
) -> str:
    record = {
        "status": "skipped",
        "reason": reason,
        "at": datetime.now(UTC).isoformat(),
        **{to_camel(k): v for k, v in details.items()},
    }
    await q.set_intent_meta(conn, tenant_id, intent["id"], "dunning", record)
    await emit(
        conn, tenant_id, "payment.dunning_skipped", {**event_base(intent, payment_id), "reason": reason, **details}
    )
    if log_error:
        await q.log_error(
            conn,
            tenant_id,
            source=SOURCE,
            code=f"dunning_{reason}",
            message=f"Asaas dunning not requested for payment {payment_id}: {reason}",
            payload={"intent_id": str(intent["id"]), "payment_id": payment_id, **details},
        )
    log.warning("asaas dunning skipped", extra={"payment_id": payment_id, "reason": reason})
    return f"skipped:{reason}"


async def request_dunning(
    conn: asyncpg.Connection, tenant_id: TenantId, payload: dict[str, Any], accounts: AsaasAccounts
) -> str:
    """Handle one ``asaas.dunning.due``; returns the outcome (for logs and tests)."""
    payment_id = str(payload["payment_id"])
    intent = await q.find_intent_for_payment(conn, tenant_id, payment_id, None)  # row lock
    if intent is None:
        return "unmatched"
    recorded = (intent["meta"] or {}).get("dunning")
    if recorded:
        return f"already:{recorded.get('status')}"
    integration = await q.get_integration(conn, tenant_id)
    if integration is None or not DunningPolicy.of(integration.dunning_policy).asaas_dunning:
        return "policy_off"
    client = accounts.client(integration)
    dunning = await client.find_payment_dunning(payment_id)
    if dunning is None:
        payment = await client.get_payment(payment_id)
        if payment.status != PaymentStatus.OVERDUE or payment.deleted:
            status = local_status(payment)
            return await _skip(
                conn, tenant_id, intent, payment_id, "payment_not_overdue", log_error=False, payment_status=status
            )
        request = dunning_request(payment, await client.get_customer(payment.customer))
        if isinstance(request, list):
            return await _skip(
                conn, tenant_id, intent, payment_id, "customer_incomplete", log_error=True, missing=request
            )
        try:
            dunning = await client.create_payment_dunning_once(request)
        except AsaasRequestRejected as exc:
            errors = [e.model_dump() for e in exc.errors]
            return await _skip(conn, tenant_id, intent, payment_id, "rejected", log_error=True, asaas_errors=errors)
    record = {
        "status": "requested",
        "dunningId": dunning.id,
        "dunningStatus": dunning.status,
        "feeValueCents": cents(dunning.fee_value),
        "at": datetime.now(UTC).isoformat(),
    }
    await q.set_intent_meta(conn, tenant_id, intent["id"], "dunning", record)
    await emit(
        conn,
        tenant_id,
        "payment.dunning_requested",
        {
            **event_base(intent, payment_id),
            "dunning_id": dunning.id,
            "dunning_status": dunning.status,
            "fee_cents": cents(dunning.fee_value),
            "net_cents": cents(dunning.net_value),
        },
    )
    log.info("asaas dunning requested", extra={"payment_id": payment_id, "dunning_id": dunning.id})
    return "requested"


__all__ = ["dunning_request", "request_dunning"]
