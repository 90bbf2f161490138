"""The tenant's dunning policy end to end: an overdue charge → one Asaas dunning request
(with every webhook delivered twice, and the handler re-run), a cancelled dunning, the
recovered money; no
request when the policy is off; a customer without an address skipped with its reason."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from db.pool import tenant_tx
from tools.asaas import PaymentDunningCreate, PaymentDunningFilter
from tools.payments import request_dunning

from ..conftest import Infra, MakeMember
from ..payments_support import CUSTOMER, Harness, eventually, harness

WITH_ADDRESS = {
    **CUSTOMER,
    "phone": "11987654321",
    "postalCode": "01310-000",
    "address": "Av. Paulista",
    "addressNumber": "150",
    "province": "Bela Vista",
}


async def _intent(h: Harness, intent_id: str) -> dict[str, Any]:
    r = await h.api.get(f"/payments/{intent_id}", headers=h.h())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _dunning_ids(h: Harness, payment_id: str) -> list[str]:
    return [d.id async for d in h.asaas.list_payment_dunnings(PaymentDunningFilter(payment=payment_id))]


async def _status_is(h: Harness, intent_id: str, status: str) -> bool:
    return (await _intent(h, intent_id))["status"] == status


def _request_for(payment_id: str) -> PaymentDunningCreate:
    return PaymentDunningCreate(
        payment=payment_id,
        customer_name=WITH_ADDRESS["name"],
        customer_cpf_cnpj="24971563792",
        customer_primary_phone=WITH_ADDRESS["phone"],
        customer_postal_code=WITH_ADDRESS["postalCode"],
        customer_address=WITH_ADDRESS["address"],
        customer_address_number=WITH_ADDRESS["addressNumber"],
        customer_province=WITH_ADDRESS["province"],
    )


async def _rerun(h: Harness, payment_id: str) -> str:
    """The worker's handler once more, as after a redelivery or a second trigger."""
    async with tenant_tx(h.pool, h.tenant_id) as conn:
        return await request_dunning(conn, h.tenant_id, {"payment_id": payment_id}, h.accounts)


async def test_overdue_requests_one_dunning_whatever_the_duplicates_then_recovered_money_wins_the_deal(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    sandbox = {"duplicate_rate": 1.0, "seed": 5}  # every webhook delivered twice
    async with harness(settings, make_member, migrated.relay_url, sandbox_config=sandbox, provision=False) as h:
        r = await h.provision(dunningPolicy={"follow_up": True, "asaas_dunning": True})
        assert r.status_code == 200, r.text
        assert r.json()["dunningPolicy"] == {"follow_up": True, "asaas_dunning": True}
        _, deal = await h.lead_and_deal()
        intent = (await h.intent("boleto", deal, customer=WITH_ADDRESS)).json()
        payment_id = intent["asaasPaymentId"]
        await h.asaas.sandbox_force_overdue(payment_id)

        await eventually(lambda: _status_is(h, intent["intentId"], "DUNNING_REQUESTED"), what="dunning reconciled")
        view = await _intent(h, intent["intentId"])
        dunning_ids = await _dunning_ids(h, payment_id)
        assert len(dunning_ids) == 1
        assert view["dunning"]["status"] == "requested" and view["dunning"]["dunningId"] == dunning_ids[0]
        assert view["dunning"]["feeValueCents"] == 999
        assert await h.count_events("payment.overdue", "intent_id", intent["intentId"]) == 1
        assert await h.count_events("asaas.dunning.due", "intent_id", intent["intentId"]) == 1
        assert await h.count_events("payment.dunning_requested", "intent_id", intent["intentId"]) == 1

        # Redelivered or re-triggered: the recorded request ends it, Asaas is not asked again.
        assert await _rerun(h, payment_id) == "already:requested"
        # Asaas accepted but our transaction was lost: the handler adopts Asaas's dunning.
        forget = "update invoices set meta = meta - 'dunning' where tenant_id = $1 and id = $2::uuid"
        await h.fetch(forget, intent["intentId"])
        assert await _rerun(h, payment_id) == "requested"
        assert await _dunning_ids(h, payment_id) == dunning_ids
        assert (await _intent(h, intent["intentId"]))["dunning"]["dunningId"] == dunning_ids[0]

        # Cancelled at Asaas: the charge is OVERDUE again, with no second follow-up or request.
        await h.asaas.cancel_payment_dunning(dunning_ids[0])
        await eventually(lambda: _status_is(h, intent["intentId"], "OVERDUE"), what="cancel reconciled")
        for event in ("payment.overdue", "asaas.dunning.due"):
            assert await h.count_events(event, "intent_id", intent["intentId"]) == 1, event
        # two: the first, and the re-recording after the forged loss above (in a real loss
        # the first rolled back with its transaction)
        assert await h.count_events("payment.dunning_requested", "intent_id", intent["intentId"]) == 2

        # Requested again by hand at Asaas, then the debtor pays through the bureau (sandbox
        # control): recovered money counts as a payment.
        second = await h.asaas.create_payment_dunning(_request_for(payment_id))
        await eventually(lambda: _status_is(h, intent["intentId"], "DUNNING_REQUESTED"), what="second dunning")
        await h.admin.receive_dunning(second.id)
        await eventually(lambda: _status_is(h, intent["intentId"], "DUNNING_RECEIVED"), what="dunning received")
        assert (await _intent(h, intent["intentId"]))["paidAt"] is not None
        assert await h.deal_stage(deal) == "won"
        assert await h.count_events("payment.succeeded", "intent_id", intent["intentId"]) == 1
        assert await h.count_events("deal.won", "deal_id", deal) == 1
        events = await h.fetch(
            "select event_type, count(*) as n from asaas_events where tenant_id = $1 and payment_id = $2 "
            "group by event_type",
            payment_id,
        )
        assert {e["event_type"]: e["n"] for e in events} == {
            "PAYMENT_CREATED": 1,
            "PAYMENT_OVERDUE": 1,
            "PAYMENT_DUNNING_REQUESTED": 2,
            "PAYMENT_UPDATED": 1,
            "PAYMENT_DUNNING_RECEIVED": 1,
        }


async def test_policy_off_requests_nothing_and_an_incomplete_customer_is_skipped_with_its_reason(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    async with harness(settings, make_member, migrated.relay_url) as h:  # default policy: no dunning
        _, deal = await h.lead_and_deal()
        off = (await h.intent("pix", deal, customer=WITH_ADDRESS)).json()
        await h.asaas.sandbox_force_overdue(off["asaasPaymentId"])

        async def overdue() -> bool:
            return (await _intent(h, off["intentId"]))["status"] == "OVERDUE"

        await eventually(overdue, what="OVERDUE reconciled")
        assert await h.count_events("payment.overdue", "intent_id", off["intentId"]) == 1
        assert await h.count_events("asaas.dunning.due", "intent_id", off["intentId"]) == 0
        assert (await _intent(h, off["intentId"]))["dunning"] is None

        for bad in ({"asaas_duning": True}, {"asaas_dunning": "sometimes"}):  # a typo, a non-boolean
            refused = await h.provision(dunningPolicy=bad)
            assert refused.status_code == 422, refused.text
        r = await h.provision(dunningPolicy={"follow_up": False, "asaas_dunning": True})
        assert r.status_code == 200, r.text
        _, deal = await h.lead_and_deal()
        bare = (await h.intent("boleto", deal)).json()  # the customer has no address nor phone
        await h.asaas.sandbox_force_overdue(bare["asaasPaymentId"])

        async def skipped() -> bool:
            return (await _intent(h, bare["intentId"]))["dunning"] is not None

        await eventually(skipped, what="dunning skipped")
        dunning = (await _intent(h, bare["intentId"]))["dunning"]
        assert (dunning["status"], dunning["reason"]) == ("skipped", "customer_incomplete")
        assert dunning["missing"] == ["mobilePhone or phone", "postalCode", "address", "addressNumber", "province"]
        assert await h.count_events("payment.dunning_skipped", "intent_id", bare["intentId"]) == 1
        assert await h.count_events("payment.overdue", "intent_id", bare["intentId"]) == 0  # follow_up off
        errors = await h.fetch("select source, code, payload from error_logs where tenant_id = $1")
        assert [(e["source"], e["code"], e["payload"]["missing"][0]) for e in errors] == [
            ("payments.dunning", "dunning_customer_incomplete", "mobilePhone or phone")
        ]
        assert await _rerun(h, bare["asaasPaymentId"]) == "already:skipped"  # not retried
        assert h.sandbox.sandbox.store.state.dunnings == {}  # Asaas was never asked, for either
        assert (await h.asaas.get_payment(bare["asaasPaymentId"])).status == "OVERDUE"
