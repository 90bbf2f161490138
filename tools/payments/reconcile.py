"""Reconciliation: bring invoices/payments in line with Asaas, idempotently.

- ``apply_payment`` is the one place money state changes: under the intent's row lock, it
  applies a payment as read from Asaas if the status precedence allows it
  (``tools.payments.status``), publishes ``payment.updated``, and on the first paid status
  ``payment.succeeded`` plus the linked deal's ``deal.won`` (``db.crm.win_deal``, once). On
  OVERDUE, per the tenant's dunning policy, it publishes ``payment.overdue`` for Luddy's
  follow-up and/or the internal ``asaas.dunning.due`` that ``tools.payments.dunning``
  turns into one Asaas dunning request. A payment back to OVERDUE after a cancelled or
  denied dunning triggers neither again.
- ``reconcile_event`` handles one stored webhook (outbox event ``asaas.event.received``):
  it re-reads the payment from the Asaas API rather than trusting the body, so duplicates
  and any arrival order converge on Asaas's state.
- ``repair_drift`` pulls payments by period (paginated, within the connector's rate
  limits) and applies what webhooks missed; it reports every change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict
from core.tenancy import TenantId
from db import crm
from db import payments as q
from db.events import emit
from db.pool import tenant_tx
from tools.asaas import AsaasNotFound, Payment, PaymentFilter

from .accounts import AsaasAccounts
from .errors import IntegrationMissing
from .policy import DunningPolicy
from .status import is_paid, rank, should_apply

log = logging.getLogger("tridium.payments")


def cents(value: Decimal | None) -> int | None:
    return None if value is None else int((value * 100).to_integral_value())


def local_status(payment: Payment) -> str:
    return "DELETED" if payment.deleted else payment.status


@dataclass(frozen=True, slots=True)
class Change:
    intent_id: UUID
    payment_id: str
    previous: str | None
    status: str
    succeeded: bool
    deal_won: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "intentId": str(self.intent_id),
            "paymentId": self.payment_id,
            "from": self.previous,
            "to": self.status,
            "succeeded": self.succeeded,
            "dealWon": self.deal_won,
        }


async def apply_payment(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    intent: dict[str, Any],
    payment: Payment,
    *,
    authoritative: bool,
    source: str,
    dunning_policy: dict[str, Any] | None = None,
) -> Change | None:
    """Apply ``payment`` to ``intent`` (locked by the caller); None when nothing changed."""
    current = await q.get_payment_row(conn, tenant_id, payment.id)
    previous = current["status"] if current else None
    status = local_status(payment)
    if not should_apply(previous, status, authoritative=authoritative):
        return None
    paid_now = is_paid(status) and (current is None or current["paid_at"] is None)
    await q.upsert_payment_row(
        conn,
        tenant_id,
        intent["id"],
        {
            "external_id": payment.id,
            "status": status,
            "status_rank": rank(status),
            "billing_type": payment.billing_type,
            "value_cents": cents(payment.value),
            "net_value_cents": cents(payment.net_value),
            "raw": payment.model_dump(mode="json", by_alias=True),
            "paid_at": datetime.now(UTC) if is_paid(status) else None,
        },
    )
    await q.update_intent_status(conn, tenant_id, intent["id"], status, paid=is_paid(status))
    base = event_base(intent, payment.id)
    await emit(conn, tenant_id, "payment.updated", {**base, "status": status, "previous": previous, "source": source})
    deal_won = False
    if paid_now:
        await emit(conn, tenant_id, "payment.succeeded", {**base, "status": status, "source": source})
        deal_won = await _win_deal(conn, tenant_id, intent)
    if status == "OVERDUE" and previous != "DUNNING_REQUESTED":
        await _overdue(conn, tenant_id, intent, payment, base, DunningPolicy.of(dunning_policy))
    return Change(intent["id"], payment.id, previous, status, paid_now, deal_won)


def event_base(intent: dict[str, Any], payment_id: str) -> dict[str, Any]:
    """The fields every payment event carries."""
    return {
        "intent_id": str(intent["id"]),
        "payment_id": payment_id,
        "lead_id": str(intent["lead_id"]) if intent["lead_id"] else None,
        "deal_id": str(intent["deal_id"]) if intent["deal_id"] else None,
        "amount_cents": intent["amount_cents"],
        "method": intent["method"],
    }


async def _overdue(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    intent: dict[str, Any],
    payment: Payment,
    base: dict[str, Any],
    policy: DunningPolicy,
) -> None:
    if policy.follow_up:
        thread_id = await q.latest_thread_of_lead(conn, tenant_id, intent["lead_id"]) if intent["lead_id"] else None
        await emit(
            conn,
            tenant_id,
            "payment.overdue",
            {
                **base,
                "thread_id": str(thread_id) if thread_id else None,
                "due_date": payment.due_date.isoformat(),
                "invoice_url": payment.invoice_url,
                "asaas_dunning": policy.asaas_dunning,
            },
        )
    if policy.asaas_dunning:
        # Same transaction as the status change: the request is due exactly when OVERDUE is
        # recorded, and at least once (outbox); the handler makes it at most once.
        await emit(conn, tenant_id, q.ASAAS_DUNNING_DUE, base)


async def _win_deal(conn: asyncpg.Connection, tenant_id: TenantId, intent: dict[str, Any]) -> bool:
    if intent["deal_id"] is None:
        return False
    try:
        async with conn.transaction():  # a savepoint: a lost deal must not undo the payment
            deal = await crm.win_deal(conn, tenant_id, intent["deal_id"], source="payment")
    except Conflict:
        log.warning("payment succeeded for a lost deal", extra={"deal_id": str(intent["deal_id"])})
        return False
    return bool(deal["stage"] == "won")


async def reconcile_event(
    conn: asyncpg.Connection, tenant_id: TenantId, payload: dict[str, Any], accounts: AsaasAccounts
) -> str:
    """Handle one ``asaas.event.received`` inside the consumer's tenant transaction.

    Asaas errors other than 404 propagate: the stream entry is then retried (and
    dead-lettered after repeated failures), so an Asaas outage delays, never loses.
    """
    row_id = int(payload["asaas_event"])
    stored = await q.get_asaas_event(conn, tenant_id, row_id)
    if stored is None:
        return "missing"
    outcome = await _reconcile_stored(conn, tenant_id, stored, accounts)
    await q.mark_asaas_event(conn, tenant_id, row_id, outcome)
    return outcome


async def _reconcile_stored(
    conn: asyncpg.Connection, tenant_id: TenantId, stored: dict[str, Any], accounts: AsaasAccounts
) -> str:
    payment_id = stored["payment_id"]
    if not payment_id or not str(stored["event_type"]).startswith("PAYMENT_"):
        return "ignored"
    integration = await q.get_integration(conn, tenant_id)
    if integration is None:
        return "no_integration"
    try:
        payment = await accounts.client(integration).get_payment(payment_id)
    except AsaasNotFound:
        return "unknown_payment"
    intent = await q.find_intent_for_payment(conn, tenant_id, payment.id, payment.external_reference)
    if intent is None:
        return "unmatched"
    change = await apply_payment(
        conn,
        tenant_id,
        intent,
        payment,
        authoritative=True,
        source="webhook",
        dunning_policy=integration.dunning_policy,
    )
    return f"applied:{change.status}" if change else "unchanged"


@dataclass
class DriftReport:
    tenant_id: str
    since: str
    until: str | None
    scanned: int = 0
    unmatched: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "since": self.since,
            "until": self.until,
            "scanned": self.scanned,
            "unmatched": self.unmatched,
            "changed": len(self.changes),
            "changes": self.changes,
        }


async def repair_drift(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    accounts: AsaasAccounts,
    *,
    since: date,
    until: date | None = None,
) -> DriftReport:
    """Pull the tenant's Asaas payments created or paid in [since, until] and apply each to
    its intent (matched by id or externalReference). Each payment is its own short
    transaction; Asaas is read outside any transaction."""
    async with tenant_tx(pool, tenant_id) as conn:
        integration = await q.get_integration(conn, tenant_id)
    if integration is None:
        raise IntegrationMissing("this tenant has no Asaas integration")
    client = accounts.client(integration)
    report = DriftReport(str(tenant_id), since.isoformat(), until.isoformat() if until else None)
    seen: set[str] = set()
    for filters in (
        PaymentFilter(date_created_ge=since, date_created_le=until),
        PaymentFilter(payment_date_ge=since, payment_date_le=until),
    ):
        async for payment in client.list_payments(filters):
            if payment.id in seen:
                continue
            seen.add(payment.id)
            report.scanned += 1
            async with tenant_tx(pool, tenant_id) as conn:
                intent = await q.find_intent_for_payment(conn, tenant_id, payment.id, payment.external_reference)
                if intent is None:
                    report.unmatched += 1
                    continue
                change = await apply_payment(
                    conn,
                    tenant_id,
                    intent,
                    payment,
                    authoritative=True,
                    source="drift_repair",
                    dunning_policy=integration.dunning_policy,
                )
            if change is not None:
                report.changes.append(change.as_dict())
    async with tenant_tx(pool, tenant_id) as conn:
        await q.mark_reconciled(conn, tenant_id)
        await emit(
            conn,
            tenant_id,
            "payments.reconciled",
            {k: v for k, v in report.as_dict().items() if k != "changes"} | {"changes": report.changes[:100]},
        )
    if report.changes:
        log.warning(
            "drift repair changed payments", extra={"tenant_id": str(tenant_id), "changed": len(report.changes)}
        )
    return report


__all__ = ["Change", "DriftReport", "apply_payment", "cents", "event_base", "reconcile_event", "repair_drift"]
