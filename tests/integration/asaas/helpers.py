"""Helpers for the Asaas integration tests: a real webhook receiver and request builders."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from tools.asaas import (
    AsaasClient,
    BillingType,
    Customer,
    PaymentCreate,
    Webhook,
    WebhookCreate,
    WebhookSendType,
)

# The webhook penalty schedule (12.8 h in all) squeezed into ~0.5 s.
FAST_SANDBOX: dict[str, Any] = {"time_scale": 1e-5, "seed": 7, "tick_interval_s": 0.2}
WEBHOOK_TOKEN = "whsec_tridium-tests-0123456789abcdef0123456789"
PAYMENT_EVENTS = [
    "PAYMENT_CREATED",
    "PAYMENT_UPDATED",
    "PAYMENT_CONFIRMED",
    "PAYMENT_RECEIVED",
    "PAYMENT_OVERDUE",
    "PAYMENT_DELETED",
    "PAYMENT_RESTORED",
    "PAYMENT_REFUNDED",
    "PAYMENT_PARTIALLY_REFUNDED",
]


@dataclass
class Delivery:
    event_id: str
    event: str
    payment_id: str | None
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint like the gateway's: checks the token in constant time, records
    what it accepted, and can be made to fail with any status."""

    token: str
    url: str = ""
    answer: int = 200
    delay_s: float = 0.0
    attempts: list[float] = field(default_factory=list)  # monotonic time of every POST
    deliveries: list[Delivery] = field(default_factory=list)  # stored (answered 200, maybe late)
    in_flight: int = 0
    max_in_flight: int = 0

    async def handle(self, request: Request) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.json()
            self.attempts.append(time.monotonic())
            given = request.headers.get("asaas-access-token", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return Response(status_code=401)
            if self.answer != 200:
                return Response(status_code=self.answer, headers={"Location": "/elsewhere"})
            self.deliveries.append(
                Delivery(
                    event_id=body["id"],
                    event=body["event"],
                    payment_id=(body.get("payment") or {}).get("id"),
                    body=body,
                    headers=dict(request.headers),
                )
            )
            if self.delay_s:  # stored, then slow to answer: the sender may have given up
                await asyncio.sleep(self.delay_s)
            return Response(status_code=200)
        finally:
            self.in_flight -= 1

    def events_for(self, payment_id: str) -> list[str]:
        return [d.event for d in self.deliveries if d.payment_id == payment_id]

    async def wait_until(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        deadline = time.monotonic() + within_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received {[(d.event, d.payment_id) for d in self.deliveries]}")
            await asyncio.sleep(0.01)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    """Poll ``check`` until it holds; for state that settles just after an observed event."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition did not hold in time")
        await asyncio.sleep(0.01)


async def register_webhook(
    asaas: AsaasClient,
    receiver: Receiver,
    send_type: WebhookSendType = WebhookSendType.SEQUENTIALLY,
) -> Webhook:
    return await asaas.create_webhook(
        WebhookCreate(
            name="tridium-tests",
            url=receiver.url,
            email="ops@example.com",
            auth_token=SecretStr(WEBHOOK_TOKEN),
            send_type=send_type,
            events=PAYMENT_EVENTS,
        )
    )


def payment_data(
    customer: Customer,
    due_date: date,
    billing_type: BillingType = BillingType.PIX,
    value: str = "100.00",
    **extra: Any,
) -> PaymentCreate:
    return PaymentCreate(
        customer=customer.id,
        billing_type=billing_type,
        value=Decimal(value),
        due_date=due_date,
        **extra,
    )
