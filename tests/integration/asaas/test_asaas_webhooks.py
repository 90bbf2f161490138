"""Webhook delivery semantics of the sandbox, seen from a real receiver: only-200 success,
penalty schedule, pause after 15 failures, resume in order, duplicates, send types."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from tools.asaas import AsaasClient, Customer, WebhookSendType
from tools.asaas.sandbox import RunningSandbox

from .helpers import Receiver, eventually, payment_data, register_webhook


async def webhook_interrupted(asaas: AsaasClient, webhook_id: str) -> bool:
    return (await asaas.get_webhook(webhook_id)).interrupted


# Sum of the compressed penalty waits before attempt 15 (0 + 30 s + … + 3 h = 46,200 s).
PENALTY_TOTAL_S = 46_200


@pytest.mark.asyncio
@pytest.mark.parametrize("failure_status", [503, 201, 302])
async def test_fifteen_failures_pause_the_queue_and_resume_delivers_everything_in_order(
    asaas: AsaasClient,
    receiver: Receiver,
    customer: Customer,
    today: date,
    sandbox: RunningSandbox,
    failure_status: int,
) -> None:
    receiver.answer = failure_status  # 201 and redirects count as failures too: only 200 succeeds
    hook = await register_webhook(asaas, receiver)
    first = await asaas.create_payment(payment_data(customer, today))

    await receiver.wait_until(lambda: len(receiver.attempts) >= 15)
    # The 15th failure is recorded just after the receiver answers.
    await eventually(lambda: webhook_interrupted(asaas, hook.id))
    paused = await asaas.get_webhook(hook.id)
    assert paused.interrupted and paused.penalized_requests_count == 1
    # The waits followed the schedule (scaled): the last one alone is 3 h x time_scale.
    elapsed = receiver.attempts[14] - receiver.attempts[0]
    assert elapsed >= PENALTY_TOTAL_S * sandbox.config.time_scale * 0.9
    assert receiver.attempts[14] - receiver.attempts[13] >= 10_800 * sandbox.config.time_scale * 0.9

    # While paused, events still queue but nothing is sent.
    second = await asaas.create_payment(payment_data(customer, today))
    await asaas.sandbox_confirm_payment(second.id)
    await asyncio.sleep(0.3)
    assert len(receiver.attempts) == 15 and receiver.deliveries == []

    receiver.answer = 200
    resumed = await asaas.resume_webhook(hook.id)
    assert not resumed.interrupted
    await receiver.wait_until(lambda: len(receiver.deliveries) == 3)
    assert [(d.event, d.payment_id) for d in receiver.deliveries] == [
        ("PAYMENT_CREATED", first.id),
        ("PAYMENT_CREATED", second.id),
        ("PAYMENT_RECEIVED", second.id),
    ]
    assert (await asaas.get_webhook(hook.id)).penalized_requests_count == 0


@pytest.mark.asyncio
async def test_a_failing_head_blocks_a_sequential_queue_until_it_succeeds(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date
) -> None:
    receiver.answer = 500
    await register_webhook(asaas, receiver)
    payments = [await asaas.create_payment(payment_data(customer, today)) for _ in range(3)]
    await receiver.wait_until(lambda: len(receiver.attempts) >= 4)
    receiver.answer = 200
    await receiver.wait_until(lambda: len(receiver.deliveries) == 3)
    assert [d.payment_id for d in receiver.deliveries] == [p.id for p in payments]


@pytest.mark.asyncio
@pytest.mark.asaas_sandbox(duplicate_rate=0.2)
async def test_at_least_once_delivery_repeats_events_with_the_same_id(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date
) -> None:
    await register_webhook(asaas, receiver)
    created = [await asaas.create_payment(payment_data(customer, today)) for _ in range(30)]
    await receiver.wait_until(lambda: {d.payment_id for d in receiver.deliveries} == {p.id for p in created})
    # In a sequential queue a duplicate goes right behind its original: a sentinel that
    # arrives proves every earlier duplicate has been sent.
    sentinel = await asaas.create_payment(payment_data(customer, today))
    await receiver.wait_until(lambda: receiver.events_for(sentinel.id) != [])

    before = [d for d in receiver.deliveries if d.payment_id != sentinel.id]
    ids = [d.event_id for d in before]
    assert len(set(ids)) == 30
    duplicated = {i for i in ids if ids.count(i) > 1}
    assert 0 < len(duplicated) < 30  # seeded: the rate shows, and not on every event
    for event_id in duplicated:
        copies = [d.body for d in before if d.event_id == event_id]
        assert all(body == copies[0] for body in copies)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("send_type", "parallel"),
    [(WebhookSendType.SEQUENTIALLY, False), (WebhookSendType.NON_SEQUENTIALLY, True)],
)
async def test_send_type_decides_whether_deliveries_overlap(
    asaas: AsaasClient,
    receiver: Receiver,
    customer: Customer,
    today: date,
    send_type: WebhookSendType,
    parallel: bool,
) -> None:
    receiver.delay_s = 0.03
    hook = await register_webhook(asaas, receiver, send_type)
    assert hook.send_type == send_type and hook.has_auth_token
    created = await asyncio.gather(*(asaas.create_payment(payment_data(customer, today)) for _ in range(12)))
    await receiver.wait_until(lambda: len(receiver.deliveries) == 12)
    assert {d.payment_id for d in receiver.deliveries} == {p.id for p in created}
    assert (receiver.max_in_flight > 1) is parallel
    if not parallel:  # strict creation order (the list is newest first)
        oldest_first = [p.id async for p in asaas.list_payments()][::-1]
        assert [d.payment_id for d in receiver.deliveries] == oldest_first


@pytest.mark.asyncio
async def test_the_webhook_token_is_never_echoed(
    asaas: AsaasClient, receiver: Receiver, sandbox: RunningSandbox
) -> None:
    hook = await register_webhook(asaas, receiver)
    listed = await asaas.list_webhooks()
    assert [w.id for w in listed] == [hook.id] and listed[0].has_auth_token
    raw = sandbox.sandbox.store.state.webhooks[hook.id].auth_token
    assert raw is not None and raw not in (await asaas.get_webhook(hook.id)).model_dump_json()


@pytest.mark.asyncio
@pytest.mark.asaas_sandbox(webhook_timeout_s=0.2)
async def test_a_receiver_slower_than_the_timeout_gets_the_event_again_with_the_same_id(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date
) -> None:
    """The classic source of duplicates: the receiver stored the event, but answered after
    the sender's timeout (10 s on Asaas, 0.2 s here), so the event comes again."""
    receiver.delay_s = 0.4
    await register_webhook(asaas, receiver)
    payment = await asaas.create_payment(payment_data(customer, today))
    await receiver.wait_until(lambda: len(receiver.attempts) >= 1)
    receiver.delay_s = 0.0
    await receiver.wait_until(lambda: len(receiver.deliveries) >= 2)
    first, second = receiver.deliveries[:2]
    assert first.event_id == second.event_id and first.payment_id == payment.id
