"""Payment flows per billing type, with the webhook events a real receiver gets, in order."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from tools.asaas import (
    AsaasCardDeclined,
    AsaasClient,
    AsaasRequestRejected,
    BillingType,
    CreditCard,
    CreditCardHolderInfo,
    CreditCardTokenize,
    Customer,
    CustomerCreate,
    PaymentCreate,
    PaymentFilter,
    PaymentStatus,
    PayWithCreditCard,
    RefundRequest,
)
from tools.asaas.sandbox import SandboxAdmin

from .helpers import WEBHOOK_TOKEN, Receiver, payment_data, register_webhook

HOLDER = CreditCardHolderInfo(
    name="Maria Souza",
    email="maria@example.com",
    cpf_cnpj="24971563792",
    postal_code="89223-005",
    address_number="277",
    phone="4738010919",
)


def card(number: str) -> CreditCard:
    return CreditCard(
        holder_name="MARIA SOUZA", number=SecretStr(number), expiry_month="05", expiry_year="2035", ccv=SecretStr("318")
    )


def card_payment(customer: Customer, today: date, number: str) -> PaymentCreate:
    return payment_data(
        customer,
        today,
        BillingType.CREDIT_CARD,
        credit_card=card(number),
        credit_card_holder_info=HOLDER,
        remote_ip="203.0.113.7",
    )


@pytest.mark.asyncio
async def test_pix_confirm_delivers_created_then_received(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date
) -> None:
    await register_webhook(asaas, receiver)
    payment = await asaas.create_payment(payment_data(customer, today, value="59.90"))
    assert payment.status == PaymentStatus.PENDING and payment.estimated_credit_date is None

    qr = await asaas.get_pix_qr_code(payment.id)
    assert qr.payload.startswith("000201") and "SANDBOX" in qr.payload
    assert qr.expiration_date is not None and qr.expiration_date.year == payment.due_date.year + 1

    paid = await asaas.sandbox_confirm_payment(payment.id)
    assert paid.status == PaymentStatus.RECEIVED and paid.payment_date == today
    assert paid.net_value == Decimal("59.90") - Decimal("1.99")

    await receiver.wait_until(lambda: len(receiver.events_for(payment.id)) == 2)
    # Pix has no CONFIRMED step.
    assert receiver.events_for(payment.id) == ["PAYMENT_CREATED", "PAYMENT_RECEIVED"]
    first, last = receiver.deliveries
    assert first.headers["asaas-access-token"] == WEBHOOK_TOKEN
    assert first.headers["x-sandbox"] == "tridium-asaas-sandbox"
    assert first.event_id.startswith("evt_") and first.event_id != last.event_id
    assert last.body["payment"]["status"] == "RECEIVED"
    assert last.body["payment"]["value"] == 59.9  # a JSON number, as Asaas sends


@pytest.mark.asyncio
async def test_boleto_goes_created_confirmed_received_one_business_day_later(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date, admin: SandboxAdmin
) -> None:
    await register_webhook(asaas, receiver)
    boleto = await asaas.create_payment(payment_data(customer, today, BillingType.BOLETO))
    assert boleto.bank_slip_url and boleto.nosso_numero

    confirmed = await asaas.sandbox_confirm_payment(boleto.id)
    assert confirmed.status == PaymentStatus.CONFIRMED and confirmed.payment_date is None
    assert confirmed.estimated_credit_date is not None
    assert confirmed.estimated_credit_date.weekday() < 5 and confirmed.estimated_credit_date > today

    await admin.advance_clock(days=(confirmed.estimated_credit_date - today).days)
    received = await asaas.get_payment(boleto.id)
    assert received.status == PaymentStatus.RECEIVED
    assert received.payment_date == confirmed.estimated_credit_date

    await receiver.wait_until(lambda: len(receiver.events_for(boleto.id)) == 3)
    assert receiver.events_for(boleto.id) == [
        "PAYMENT_CREATED",
        "PAYMENT_CONFIRMED",
        "PAYMENT_RECEIVED",
    ]


@pytest.mark.asyncio
async def test_card_is_confirmed_at_once_and_credited_32_days_later(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date, admin: SandboxAdmin
) -> None:
    await register_webhook(asaas, receiver)
    payment = await asaas.create_payment(card_payment(customer, today, "4444 4444 4444 4444"))
    assert payment.status == PaymentStatus.CONFIRMED and payment.confirmed_date == today
    assert payment.credit_card is not None and payment.credit_card.credit_card_number == "4444"
    assert payment.estimated_credit_date is not None
    assert payment.estimated_credit_date >= today + timedelta(days=32)
    # Let CREATED/CONFIRMED go out first: a jump of 31 days would otherwise make them older
    # than Asaas's 14-day retention and drop them, as Asaas would.
    await receiver.wait_until(lambda: len(receiver.events_for(payment.id)) == 2)

    await admin.advance_clock(days=31)
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.CONFIRMED
    await admin.advance_clock(days=(payment.estimated_credit_date - today).days - 31)
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.RECEIVED

    await receiver.wait_until(lambda: len(receiver.events_for(payment.id)) == 3)
    assert receiver.events_for(payment.id) == [
        "PAYMENT_CREATED",
        "PAYMENT_CONFIRMED",
        "PAYMENT_RECEIVED",
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("number", ["5184019740373151", "4916561358240741"])
async def test_test_cards_are_declined_and_nothing_persists(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date, number: str
) -> None:
    await register_webhook(asaas, receiver)
    with pytest.raises(AsaasCardDeclined) as caught:
        await asaas.create_payment(card_payment(customer, today, number))
    err = caught.value
    assert err.status == 402 and err.code == "card_declined"
    assert isinstance(err, AsaasRequestRejected)
    assert err.errors[0].code == "invalid_creditCard"
    assert err.message.startswith("Transação não autorizada.")
    assert number not in repr(err.details)

    assert [p async for p in asaas.list_payments(PaymentFilter(customer=customer.id))] == []
    # The sentinel proves the queue is drained: nothing was emitted for the decline.
    sentinel = await asaas.create_payment(payment_data(customer, today))
    await receiver.wait_until(lambda: len(receiver.deliveries) >= 1)
    assert [d.payment_id for d in receiver.deliveries] == [sentinel.id]


@pytest.mark.asyncio
async def test_tokenised_card_pays_a_pending_charge_of_its_own_customer_only(
    asaas: AsaasClient, customer: Customer, today: date
) -> None:
    token = await asaas.tokenize_credit_card(
        CreditCardTokenize(
            customer=customer.id,
            credit_card=card("5162306219378829"),
            credit_card_holder_info=HOLDER,
            remote_ip="203.0.113.7",
        )
    )
    assert token.credit_card_brand == "MASTERCARD" and token.credit_card_number == "8829"

    pending = await asaas.create_payment(payment_data(customer, today, BillingType.CREDIT_CARD))
    assert pending.status == PaymentStatus.PENDING
    paid = await asaas.pay_with_credit_card(pending.id, PayWithCreditCard(credit_card_token=token.credit_card_token))
    assert paid.status == PaymentStatus.CONFIRMED

    other = await asaas.create_customer(CustomerCreate(name="Outro", cpf_cnpj="11144477735"))
    foreign = await asaas.create_payment(payment_data(other, today, BillingType.CREDIT_CARD))
    with pytest.raises(AsaasRequestRejected):
        await asaas.pay_with_credit_card(foreign.id, PayWithCreditCard(credit_card_token=token.credit_card_token))


@pytest.mark.asyncio
async def test_late_pix_passes_through_overdue(
    asaas: AsaasClient, receiver: Receiver, customer: Customer, today: date, admin: SandboxAdmin
) -> None:
    await register_webhook(asaas, receiver)
    payment = await asaas.create_payment(payment_data(customer, today))
    await admin.advance_clock(days=1)
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.OVERDUE
    await asaas.sandbox_confirm_payment(payment.id)
    await receiver.wait_until(lambda: len(receiver.events_for(payment.id)) == 3)
    assert receiver.events_for(payment.id) == [
        "PAYMENT_CREATED",
        "PAYMENT_OVERDUE",
        "PAYMENT_RECEIVED",
    ]

    # Asaas's sandbox action forces it without waiting for the due date.
    future = await asaas.create_payment(payment_data(customer, today + timedelta(days=30)))
    assert (await asaas.sandbox_force_overdue(future.id)).status == PaymentStatus.OVERDUE
    with pytest.raises(AsaasRequestRejected):
        await asaas.sandbox_force_overdue(future.id)


@pytest.mark.asyncio
async def test_refund_and_delete_follow_asaas_rules(asaas: AsaasClient, customer: Customer, today: date) -> None:
    paid = await asaas.create_payment(payment_data(customer, today, value="50.00"))
    await asaas.sandbox_confirm_payment(paid.id)
    partial = await asaas.refund_payment(paid.id, RefundRequest(value=Decimal("20.00")))
    assert partial.status == PaymentStatus.RECEIVED and partial.refunds is not None
    with pytest.raises(AsaasRequestRejected):  # more than what is left
        await asaas.refund_payment(paid.id, RefundRequest(value=Decimal("40.00")))
    full = await asaas.refund_payment(paid.id)
    assert full.status == PaymentStatus.REFUNDED
    assert [r.value for r in full.refunds or []] == [Decimal("20.00"), Decimal("30.00")]

    with pytest.raises(AsaasRequestRejected):  # only PENDING/OVERDUE can be deleted
        await asaas.delete_payment(paid.id)
    pending = await asaas.create_payment(payment_data(customer, today))
    assert (await asaas.delete_payment(pending.id)).deleted
    assert (await asaas.delete_payment(pending.id)).deleted  # a repeat is not an error
    assert (await asaas.get_payment(pending.id)).deleted


@pytest.mark.asyncio
async def test_list_pages_newest_first_and_filters(asaas: AsaasClient, customer: Customer, today: date) -> None:
    kinds = [BillingType.PIX, BillingType.BOLETO, BillingType.PIX]
    created = [
        await asaas.create_payment(payment_data(customer, today, kinds[i % 3], external_reference=f"order-{i}"))
        for i in range(25)
    ]
    first = await asaas.list_payments_page(offset=0, limit=10)
    assert (first.total_count, first.has_more, len(first.data)) == (25, True, 10)
    assert [p.id for p in first.data] == [p.id for p in reversed(created)][:10]
    last = await asaas.list_payments_page(offset=20, limit=10)
    assert (last.has_more, len(last.data)) == (False, 5)

    walked = [p.id async for p in asaas.list_payments(page_size=7)]
    assert sorted(walked) == sorted(p.id for p in created) and len(walked) == 25

    boletos = [p async for p in asaas.list_payments(PaymentFilter(billing_type=BillingType.BOLETO))]
    assert len(boletos) == 8 and all(p.billing_type == "BOLETO" for p in boletos)
    one = [p async for p in asaas.list_payments(PaymentFilter(external_reference="order-7"))]
    assert [p.id for p in one] == [created[7].id]
    await asaas.sandbox_confirm_payment(created[0].id)
    received = PaymentFilter(status=PaymentStatus.RECEIVED, payment_date_ge=today, payment_date_le=today)
    assert [p.id async for p in asaas.list_payments(received)] == [created[0].id]
    yesterday = PaymentFilter(date_created_le=today - timedelta(days=1))
    assert [p async for p in asaas.list_payments(yesterday)] == []
