"""Connector reliability against injected faults: lost responses, 5xx, 429."""

from __future__ import annotations

import time
from datetime import date

import httpx
import pytest
from pydantic import SecretStr

from tools.asaas import (
    AsaasClient,
    AsaasConfig,
    AsaasRateLimited,
    AsaasUnavailable,
    Customer,
    PaymentFilter,
)
from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN, RunningSandbox, SandboxAdmin

from .helpers import payment_data


async def payments_for(asaas: AsaasClient, reference: str) -> list[str]:
    return [p.id async for p in asaas.list_payments(PaymentFilter(external_reference=reference))]


@pytest.mark.asyncio
async def test_a_lost_create_response_leaves_a_payment_the_caller_cannot_see(
    asaas: AsaasClient, admin: SandboxAdmin, customer: Customer, today: date
) -> None:
    """Why create_payment_once exists: the create committed, the answer never came."""
    await admin.drop_next_response("POST", "/v3/payments")
    with pytest.raises(AsaasUnavailable) as caught:
        await asaas.create_payment(payment_data(customer, today, external_reference="intent-0"))
    assert caught.value.request_sent  # so it was not blindly repeated
    assert len(await payments_for(asaas, "intent-0")) == 1


@pytest.mark.asyncio
async def test_create_payment_once_recovers_a_lost_response_without_duplicating(
    asaas: AsaasClient, admin: SandboxAdmin, customer: Customer, today: date
) -> None:
    await admin.drop_next_response("POST", "/v3/payments")
    payment = await asaas.create_payment_once("intent-1", payment_data(customer, today))
    assert payment.external_reference == "intent-1"
    assert await payments_for(asaas, "intent-1") == [payment.id]

    again = await asaas.create_payment_once("intent-1", payment_data(customer, today))
    assert again.id == payment.id
    assert await payments_for(asaas, "intent-1") == [payment.id]


@pytest.mark.asyncio
async def test_create_payment_once_creates_when_the_first_try_never_landed(
    asaas: AsaasClient, admin: SandboxAdmin, customer: Customer, today: date
) -> None:
    await admin.fail_next("POST", "/v3/payments", status=503, count=2)
    payment = await asaas.create_payment_once("intent-2", payment_data(customer, today))
    assert await payments_for(asaas, "intent-2") == [payment.id]


@pytest.mark.asyncio
async def test_reads_are_retried_on_5xx_but_creates_are_not(
    asaas: AsaasClient, admin: SandboxAdmin, customer: Customer, today: date
) -> None:
    payment = await asaas.create_payment(payment_data(customer, today))
    await admin.fail_next("GET", "/v3/payments/{id}", status=502, count=2)
    assert (await asaas.get_payment(payment.id)).id == payment.id

    await admin.fail_next("POST", "/v3/payments", status=503)
    with pytest.raises(AsaasUnavailable) as caught:
        await asaas.create_payment(payment_data(customer, today, external_reference="once"))
    assert caught.value.http_status == 503
    assert await payments_for(asaas, "once") == []


@pytest.mark.asyncio
async def test_429_is_waited_out_for_the_announced_reset_even_on_a_create(
    asaas: AsaasClient, admin: SandboxAdmin, customer: Customer, today: date
) -> None:
    await admin.rate_limit_next(1, reset_seconds=1)
    started = time.monotonic()
    payment = await asaas.create_payment(payment_data(customer, today, external_reference="rl"))
    assert time.monotonic() - started >= 0.95  # never retried at once
    assert await payments_for(asaas, "rl") == [payment.id]  # a 429 was not processed


@pytest.mark.asyncio
@pytest.mark.asaas_client(max_rate_limit_wait_s=0.5)
async def test_429_longer_than_we_may_wait_is_raised(asaas: AsaasClient, admin: SandboxAdmin) -> None:
    await admin.rate_limit_next(1, reset_seconds=30)
    with pytest.raises(AsaasRateLimited) as caught:
        await asaas.list_payments_page()
    assert caught.value.status == 429 and caught.value.retry_after == 30
    assert caught.value.headers == {"Retry-After": "30"}


@pytest.mark.asyncio
@pytest.mark.asaas_sandbox(endpoint_rate_limit=3, endpoint_rate_window_s=2.0)
async def test_ratelimit_remaining_zero_holds_the_next_call_instead_of_provoking_429(
    asaas: AsaasClient, sandbox: RunningSandbox, customer: Customer, today: date
) -> None:
    payment = await asaas.create_payment(payment_data(customer, today))
    seen: list[tuple[int, str | None]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.status_code, response.headers.get("RateLimit-Remaining")))

    async with httpx.AsyncClient(event_hooks={"response": [record]}) as http:
        config = AsaasConfig(
            base_url=sandbox.base_url, access_token=SecretStr(DEFAULT_ACCESS_TOKEN), user_agent="tridium-tests"
        )
        client = AsaasClient(http, config)
        started = time.monotonic()
        for _ in range(4):  # the 4th GET belongs to the next window
            await client.get_payment(payment.id)
        waited = time.monotonic() - started
    assert seen == [(200, "2"), (200, "1"), (200, "0"), (200, "2")]  # no 429 was provoked
    assert waited >= 1.0  # held until RateLimit-Reset
