"""Status precedence: how out-of-order and duplicate Asaas events converge.

Asaas delivers at least once and, in NON_SEQUENTIALLY mode, in any order; even in order,
two reconciliations of one payment may commit in either order. So a payment's local status
only moves *up* this ladder, whatever the arrival order:

    DELETED(5)  PENDING(10) < AWAITING_RISK_ANALYSIS(15) < AUTHORIZED(20) < OVERDUE(30)
    < DUNNING_REQUESTED(35) < CONFIRMED(50) < RECEIVED = RECEIVED_IN_CASH(60)
    < DUNNING_RECEIVED(65) < REFUND_REQUESTED(70) < REFUND_IN_PROGRESS(75)
    < CHARGEBACK_REQUESTED(80) < CHARGEBACK_DISPUTE(82) < AWAITING_CHARGEBACK_REVERSAL(84)
    < REFUNDED(100, terminal)

Paid statuses (CONFIRMED, RECEIVED, RECEIVED_IN_CASH, DUNNING_RECEIVED) make the payment
succeed, once. DUNNING_REQUESTED (a dunning is running at the credit bureau) ranks just
above OVERDUE and below any payment; DUNNING_RECEIVED (the debt was recovered through
the dunning) is money in, above RECEIVED. A few real transitions go *down* and are accepted only from a fresh read
of the Asaas API (``authoritative``), never from an event body:

- restore of a deleted charge (DELETED → PENDING/OVERDUE): DELETED ranks lowest, so any
  later status of a restored charge wins anyway;
- a chargeback the merchant won (CHARGEBACK_* → CONFIRMED/RECEIVED);
- an undone cash receipt (RECEIVED_IN_CASH → PENDING/OVERDUE);
- a dunning cancelled or denied (DUNNING_REQUESTED → OVERDUE).

Unknown statuses (Asaas adds some without notice) rank 0: recorded on first sight, never
overriding a known one.
"""

from __future__ import annotations

RANKS: dict[str, int] = {
    "DELETED": 5,
    "PENDING": 10,
    "AWAITING_RISK_ANALYSIS": 15,
    "AUTHORIZED": 20,
    "OVERDUE": 30,
    "DUNNING_REQUESTED": 35,
    "CONFIRMED": 50,
    "RECEIVED": 60,
    "RECEIVED_IN_CASH": 60,
    "DUNNING_RECEIVED": 65,
    "REFUND_REQUESTED": 70,
    "REFUND_IN_PROGRESS": 75,
    "CHARGEBACK_REQUESTED": 80,
    "CHARGEBACK_DISPUTE": 82,
    "AWAITING_CHARGEBACK_REVERSAL": 84,
    "REFUNDED": 100,
}

PAID = frozenset({"CONFIRMED", "RECEIVED", "RECEIVED_IN_CASH", "DUNNING_RECEIVED"})
TERMINAL = frozenset({"REFUNDED"})
_CHARGEBACK = frozenset({"CHARGEBACK_REQUESTED", "CHARGEBACK_DISPUTE", "AWAITING_CHARGEBACK_REVERSAL"})
_DOWNWARD_FROM_API: frozenset[tuple[str, str]] = frozenset(
    {(c, s) for c in _CHARGEBACK for s in ("CONFIRMED", "RECEIVED")}
    | {("RECEIVED_IN_CASH", "PENDING"), ("RECEIVED_IN_CASH", "OVERDUE"), ("DUNNING_REQUESTED", "OVERDUE")}
)


def rank(status: str) -> int:
    return RANKS.get(status, 0)


def is_paid(status: str) -> bool:
    return status in PAID


def should_apply(current: str | None, new: str, *, authoritative: bool) -> bool:
    """Whether ``new`` replaces ``current`` (None: nothing recorded yet)."""
    if current is None:
        return True
    if current == new or current in TERMINAL:
        return False
    if rank(new) > rank(current):
        return True
    return authoritative and (current, new) in _DOWNWARD_FROM_API


__all__ = ["PAID", "RANKS", "TERMINAL", "is_paid", "rank", "should_apply"]
