"""Payment dunnings (negativação) over real HTTP: create (multipart), get, list, simulate,
cancel, the sandbox's state machine and webhooks, errors, and a create whose answer is lost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from tools.asaas import (
    AsaasClient,
    AsaasNotFound,
    AsaasRequestRejected,
    AsaasUnavailable,
    BillingType,
    Customer,
    CustomerCreate,
    DunningDocument,
    DunningStatus,
    Payment,
    PaymentDunningCreate,
    PaymentDunningFilter,
    PaymentStatus,
    WebhookCreate,
)
from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN, RunningSandbox, SandboxAdmin

from .helpers import PAYMENT_EVENTS, WEBHOOK_TOKEN, Receiver, payment_data

DUNNING_EVENTS = [*PAYMENT_EVENTS, "PAYMENT_DUNNING_REQUESTED", "PAYMENT_DUNNING_RECEIVED"]


def dunning_data(payment: Payment, **extra: object) -> PaymentDunningCreate:
    fields: dict[str, object] = {
        "payment": payment.id,
        "customer_name": "Maria Souza",
        "customer_cpf_cnpj": "24971563792",
        "customer_primary_phone": "11987654321",
        "customer_postal_code": "01310-000",
        "customer_address": "Av. Paulista",
        "customer_address_number": "150",
        "customer_province": "Bela Vista",
        **extra,
    }
    return PaymentDunningCreate.model_validate(fields)


async def overdue_payment(asaas: AsaasClient, customer: Customer, today: date, value: str = "100.00") -> Payment:
    payment = await asaas.create_payment(payment_data(customer, today, BillingType.BOLETO, value=value))
    return await asaas.sandbox_force_overdue(payment.id)


@pytest.mark.asyncio
async def test_dunning_lifecycle_with_simulation_documents_and_webhooks(
    asaas: AsaasClient,
    receiver: Receiver,
    customer: Customer,
    today: date,
    admin: SandboxAdmin,
    sandbox: RunningSandbox,
) -> None:
    await asaas.create_webhook(
        WebhookCreate(
            name="tridium-tests",
            url=receiver.url,
            email="ops@example.com",
            auth_token=SecretStr(WEBHOOK_TOKEN),
            events=DUNNING_EVENTS,
        )
    )
    payment = await asaas.create_payment(payment_data(customer, today, BillingType.BOLETO, value="100.00"))

    # Not overdue yet: the simulation says why, a create is refused with Asaas's error shape.
    early = await asaas.simulate_payment_dunning(payment.id)
    assert [(s.type, s.is_allowed) for s in early.type_simulations] == [("CREDIT_BUREAU", False)]
    assert early.type_simulations[0].not_allowed_reason
    with pytest.raises(AsaasRequestRejected) as refused:
        await asaas.create_payment_dunning(dunning_data(payment))
    assert refused.value.errors[0].code == "invalid_action"

    await asaas.sandbox_force_overdue(payment.id)
    simulation = await asaas.simulate_payment_dunning(payment.id)
    allowed = simulation.type_simulations[0]
    assert allowed.is_allowed and allowed.not_allowed_reason is None
    assert (simulation.value, allowed.fee_value, allowed.net_value) == (Decimal(100), Decimal("9.99"), Decimal("90.01"))

    contract = DunningDocument(filename="contrato.pdf", content=b"%PDF-1.4 sandbox")
    dunning = await asaas.create_payment_dunning(dunning_data(payment, description="Plano anual", documents=[contract]))
    assert (dunning.status, dunning.type, dunning.payment) == ("PENDING", "CREDIT_BUREAU", payment.id)
    assert (dunning.value, dunning.fee_value, dunning.net_value) == (Decimal(100), Decimal("9.99"), Decimal("90.01"))
    assert dunning.can_be_cancelled and dunning.description == "Plano anual" and dunning.request_date == today
    stored = sandbox.sandbox.store.state.dunnings[dunning.id]  # sent as multipart, file included
    assert stored.documents == ["contrato.pdf"] and stored.customer["customerPostalCode"] == "01310-000"
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.DUNNING_REQUESTED
    assert (await asaas.get_payment_dunning(dunning.id)).id == dunning.id
    assert [d.id async for d in asaas.list_payment_dunnings(PaymentDunningFilter(payment=payment.id))] == [dunning.id]
    assert await asaas.find_payment_dunning(payment.id) == dunning
    empty = await asaas.list_payment_dunnings_page(PaymentDunningFilter(status=DunningStatus.PAID))
    assert empty.total_count == 0 and empty.data == []
    with pytest.raises(AsaasRequestRejected):  # one dunning at a time per payment
        await asaas.create_payment_dunning(dunning_data(payment))

    # Asaas's own progress (Tridium sandbox control), then the debtor pays through it.
    assert (await admin.advance_dunning(dunning.id))["status"] == "AWAITING_APPROVAL"
    assert (await admin.advance_dunning(dunning.id))["status"] == "PROCESSED"
    assert (await admin.receive_dunning(dunning.id))["status"] == "PAID"
    paid = await asaas.get_payment_dunning(dunning.id)
    assert paid.status == DunningStatus.PAID and paid.can_be_cancelled is False and paid.cannot_be_cancelled_reason
    recovered = await asaas.get_payment(payment.id)
    assert recovered.status == PaymentStatus.DUNNING_RECEIVED and recovered.payment_date == today
    with pytest.raises(AsaasRequestRejected):
        await asaas.cancel_payment_dunning(dunning.id)

    await receiver.wait_until(lambda: "PAYMENT_DUNNING_RECEIVED" in receiver.events_for(payment.id))
    assert receiver.events_for(payment.id) == [
        "PAYMENT_CREATED",
        "PAYMENT_OVERDUE",
        "PAYMENT_DUNNING_REQUESTED",
        "PAYMENT_DUNNING_RECEIVED",
    ]
    requested = next(d for d in receiver.deliveries if d.event == "PAYMENT_DUNNING_REQUESTED")
    assert requested.body["payment"]["status"] == "DUNNING_REQUESTED"


@pytest.mark.asyncio
async def test_cancel_before_and_after_the_bureau_reopens_the_payment(
    asaas: AsaasClient, customer: Customer, today: date, admin: SandboxAdmin
) -> None:
    payment = await overdue_payment(asaas, customer, today)
    first = await asaas.create_payment_dunning(dunning_data(payment))
    cancelled = await asaas.cancel_payment_dunning(first.id)
    assert cancelled.status == DunningStatus.CANCELLED and not cancelled.can_be_cancelled
    assert (await asaas.cancel_payment_dunning(first.id)).status == DunningStatus.CANCELLED  # idempotent
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.OVERDUE
    assert await asaas.find_payment_dunning(payment.id) is None  # a cancelled one no longer counts

    second = await asaas.create_payment_dunning(dunning_data(payment))
    await admin.advance_dunning(second.id)
    await admin.advance_dunning(second.id)  # PROCESSED: at the bureau
    waiting = await asaas.cancel_payment_dunning(second.id)
    assert waiting.status == DunningStatus.AWAITING_CANCELLATION
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.DUNNING_REQUESTED
    assert (await admin.advance_dunning(second.id))["status"] == "CANCELLED"
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.OVERDUE
    statuses = [d.status async for d in asaas.list_payment_dunnings(PaymentDunningFilter(payment=payment.id))]
    assert statuses == ["CANCELLED", "CANCELLED"]


@pytest.mark.asyncio
async def test_invalid_requests_get_asaas_errors_not_5xx(
    asaas: AsaasClient, customer: Customer, today: date, sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    payment = await overdue_payment(asaas, customer, today)
    url = f"{sandbox.base_url}/v3/paymentDunnings"
    headers = {"access_token": DEFAULT_ACCESS_TOKEN}
    complete = dunning_data(payment).to_body()

    async def post(form: dict[str, object]) -> tuple[int, str]:
        parts = [(k, (None, str(v).encode())) for k, v in form.items()]
        r = await http.post(url, files=parts, headers=headers)
        return r.status_code, r.json()["errors"][0]["code"]

    assert await post({k: v for k, v in complete.items() if k != "customerProvince"}) == (
        400,
        "invalid_customerProvince",
    )
    assert await post({**complete, "customerCpfCnpj": "11111111111"}) == (400, "invalid_customerCpfCnpj")
    assert await post({**complete, "type": "PROTEST"}) == (400, "invalid_type")
    assert await post({**complete, "payment": "pay_unknown"}) == (400, "invalid_payment")
    assert await post({}) == (400, "invalid_payment")  # validation stops at the first error
    with pytest.raises(AsaasRequestRejected) as unknown:
        await asaas.simulate_payment_dunning("pay_unknown")
    assert unknown.value.errors[0].code == "invalid_payment"
    with pytest.raises(AsaasNotFound):
        await asaas.get_payment_dunning("00000000-0000-4000-8000-000000000000")
    with pytest.raises(AsaasNotFound):
        await asaas.cancel_payment_dunning("00000000-0000-4000-8000-000000000000")
    assert (await asaas.get_payment(payment.id)).status == PaymentStatus.OVERDUE  # nothing was created


@pytest.mark.asyncio
async def test_a_lost_create_answer_is_recovered_by_looking_up_the_payment_never_duplicated(
    asaas: AsaasClient, admin: SandboxAdmin, today: date
) -> None:
    customer = await asaas.create_customer(CustomerCreate(name="Maria Souza", cpf_cnpj="24971563792"))
    lost = await overdue_payment(asaas, customer, today)
    await admin.drop_next_response("POST", "/v3/paymentDunnings")
    with pytest.raises(AsaasUnavailable) as caught:
        await asaas.create_payment_dunning(dunning_data(lost))
    assert caught.value.request_sent  # committed at Asaas, so not blindly repeated
    assert len([d async for d in asaas.list_payment_dunnings(PaymentDunningFilter(payment=lost.id))]) == 1

    payment = await overdue_payment(asaas, customer, today)
    await admin.drop_next_response("POST", "/v3/paymentDunnings")
    once = await asaas.create_payment_dunning_once(dunning_data(payment))
    again = await asaas.create_payment_dunning_once(dunning_data(payment))
    assert again.id == once.id
    assert [d.id async for d in asaas.list_payment_dunnings(PaymentDunningFilter(payment=payment.id))] == [once.id]
