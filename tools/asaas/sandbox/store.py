"""In-memory state of the sandbox: records, the virtual clock, ids, and event emission.

Plain dataclasses inside (``CONVENTIONS`` §11); the Asaas JSON shapes are produced by
``render``. The whole state is one ``SandboxState`` so it can be saved to and loaded from a
JSON file with a pydantic ``TypeAdapter``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

logger = logging.getLogger("tridium.sandbox.asaas")
LOG_PREFIX = "[SANDBOX asaas, simulated]"
# Asaas stamps webhooks in Brazil local time without an offset (reference §10.2).
BRT = timezone(timedelta(hours=-3))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # Asaas sends money as JSON numbers
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return json.dumps(data, default=_json_default, ensure_ascii=False).encode()


class ApiError(Exception):
    """An answer in Asaas's error shape; 404 carries no body, like Asaas."""

    def __init__(self, status: int, code: str = "", description: str = "") -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description


def not_found() -> ApiError:
    return ApiError(404)


@dataclass
class CustomerRec:
    id: str
    date_created: date
    created_at: datetime
    name: str
    cpf_cnpj: str
    external_reference: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    notification_disabled: bool = False
    deleted: bool = False
    other: dict[str, Any] = field(default_factory=dict)  # echoed optional fields


@dataclass
class RefundRec:
    date_created: datetime
    value: Decimal
    description: str | None
    status: str = "DONE"


@dataclass
class PaymentRec:
    id: str
    customer: str
    billing_type: str
    value: Decimal
    net_value: Decimal
    due_date: date
    date_created: date
    created_at: datetime
    seq: int
    invoice_number: str
    status: str = "PENDING"
    original_due_date: date | None = None
    description: str | None = None
    external_reference: str | None = None
    payment_date: date | None = None
    client_payment_date: date | None = None
    confirmed_date: date | None = None
    credit_date: date | None = None
    estimated_credit_date: date | None = None
    deleted: bool = False
    card_number_last4: str | None = None
    card_brand: str | None = None
    card_token: str | None = None
    nosso_numero: str | None = None
    postal_service: bool = False
    refunds: list[RefundRec] = field(default_factory=list)


@dataclass
class DunningRec:
    id: str
    dunning_number: int
    payment: str
    type: str
    status: str
    request_date: date
    created_at: datetime
    value: Decimal
    fee_value: Decimal
    net_value: Decimal
    customer: dict[str, str]  # the customer* fields as sent
    description: str | None = None
    documents: list[str] = field(default_factory=list)  # file names (contents are not kept)
    denial_reason: str | None = None


@dataclass
class TokenRec:
    token: str
    customer: str
    last4: str
    brand: str


@dataclass
class WebhookRec:
    id: str
    name: str
    url: str
    email: str | None
    enabled: bool
    interrupted: bool
    api_version: int
    auth_token: str | None
    send_type: str
    events: list[str]
    created_at: datetime
    consecutive_failures: int = 0


@dataclass
class QueuedEvent:
    """One event waiting in one webhook's queue; ``body`` is the exact JSON sent."""

    event_id: str
    body: dict[str, Any]
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    duplicate: bool = False  # an injected redelivery: never duplicated again


@dataclass
class SandboxState:
    clock_offset_s: float = 0.0
    seq: int = 0
    customers: dict[str, CustomerRec] = field(default_factory=dict)
    payments: dict[str, PaymentRec] = field(default_factory=dict)
    tokens: dict[str, TokenRec] = field(default_factory=dict)
    dunnings: dict[str, DunningRec] = field(default_factory=dict)
    webhooks: dict[str, WebhookRec] = field(default_factory=dict)
    queues: dict[str, list[QueuedEvent]] = field(default_factory=dict)


STATE_ADAPTER: TypeAdapter[SandboxState] = TypeAdapter(SandboxState)


class Store:
    """The sandbox's single source of truth. All mutations happen on the event loop
    without awaiting in between, so no locks are needed."""

    def __init__(self, state: SandboxState | None = None, seed: int | None = None) -> None:
        self.state = state or SandboxState()
        self.rng = random.Random(seed)
        self.dirty = False
        self.listeners: list[Callable[[str], None]] = []  # called with a webhook id

    # --- clock ----------------------------------------------------------------------

    def now(self) -> datetime:
        """Sandbox time: wall time plus whatever ``/v3/sandbox/clock/advance`` added."""
        real = datetime.now(BRT)
        return real + timedelta(seconds=self.state.clock_offset_s)

    def today(self) -> date:
        return self.now().date()

    def advance(self, seconds: float) -> None:
        self.state.clock_offset_s += seconds
        self.touch()

    # --- ids ------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.state.seq += 1
        return self.state.seq

    def new_id(self, prefix: str, length: int = 12) -> str:
        """An opaque id like Asaas's; never one already taken (a seeded generator replays
        its sequence after a restart from a state file)."""
        alphabet = string.ascii_lowercase + string.digits
        state = self.state
        while True:
            candidate = prefix + "".join(self.rng.choice(alphabet) for _ in range(length))
            if not any(candidate in table for table in (state.customers, state.payments, state.webhooks)):
                return candidate

    def new_event_id(self) -> str:
        seq = self.next_seq()
        digest = hashlib.md5(f"{secrets.token_hex(8)}:{seq}".encode()).hexdigest()
        return f"evt_{digest}&{seq}"

    def touch(self) -> None:
        self.dirty = True

    # --- events ---------------------------------------------------------------------

    def emit(self, event: str, entity_key: str, entity: dict[str, Any]) -> str:
        """Queue ``event`` on every enabled webhook subscribed to it; return the event id.

        Paused (interrupted) queues still receive events, as on Asaas; they go out after
        the queue is resumed.
        """
        event_id = self.new_event_id()
        now = self.now()
        # Frozen as plain JSON now: the payload shows the entity as it was at the event,
        # and survives a save/load of the state unchanged.
        body: dict[str, Any] = json.loads(
            dumps(
                {
                    "id": event_id,
                    "event": event,
                    "dateCreated": now.strftime("%Y-%m-%d %H:%M:%S"),
                    entity_key: entity,
                }
            )
        )
        logger.info("%s event %s %s for %s", LOG_PREFIX, event_id, event, entity.get("id"))
        for hook in self.state.webhooks.values():
            if hook.enabled and event in hook.events:
                queue = self.state.queues.setdefault(hook.id, [])
                queue.append(QueuedEvent(event_id=event_id, body=body, created_at=now))
                for listener in self.listeners:
                    listener(hook.id)
        self.touch()
        return event_id

    # --- persistence ----------------------------------------------------------------

    def dump_json(self) -> bytes:
        return STATE_ADAPTER.dump_json(self.state, indent=1)

    @staticmethod
    def load_json(raw: bytes) -> SandboxState:
        return STATE_ADAPTER.validate_json(raw)


__all__ = [
    "BRT",
    "LOG_PREFIX",
    "ApiError",
    "CustomerRec",
    "DunningRec",
    "PaymentRec",
    "QueuedEvent",
    "RefundRec",
    "SandboxState",
    "Store",
    "TokenRec",
    "WebhookRec",
    "dumps",
    "not_found",
]
