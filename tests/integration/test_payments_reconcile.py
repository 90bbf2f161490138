"""Reconciliation: boleto and card sequences, 20% duplicates in shuffled order with a
reconciler killed mid-way, an endpoint that was down until the queue was interrupted, and
drift repair of a payment whose webhook never came."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import date

from core.settings import Settings
from tests.payments_support import Harness, eventually, harness
from tools.asaas import WebhookSendType
from tools.payments import repair_drift

from ..conftest import Infra, MakeMember

APPROVED = {
    "holderName": "Maria Souza",
    "number": "4444 4444 4444 4444",
    "expiryMonth": "12",
    "expiryYear": "2035",
    "ccv": "123",
}
DECLINED = {**APPROVED, "number": "5184019740373151"}
HOLDER = {
    "name": "Maria Souza",
    "email": "maria@example.com",
    "cpfCnpj": "24971563792",
    "postalCode": "01310-000",
    "addressNumber": "150",
    "phone": "11999990000",
}


async def _status(h: Harness, intent_id: str) -> str:
    return str((await h.api.get(f"/payments/{intent_id}", headers=h.h())).json()["status"])


async def test_boleto_and_card_sequences_end_in_the_right_states(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    async with harness(settings, make_member, migrated.relay_url) as h:
        _, boleto_deal = await h.lead_and_deal()
        boleto = (await h.intent("boleto", boleto_deal)).json()
        assert boleto["bankSlipUrl"] and boleto["pix"] is None
        await h.asaas.sandbox_confirm_payment(boleto["asaasPaymentId"])  # paid at the bank: CONFIRMED
        await eventually(lambda: _is(h, boleto["intentId"], "CONFIRMED"), what="boleto CONFIRMED")
        assert await h.deal_stage(boleto_deal) == "won"

        _, card_deal = await h.lead_and_deal()
        card = (await h.intent("card", card_deal)).json()
        assert card["status"] == "PENDING"
        body = {
            "intentId": card["intentId"],
            "creditCard": DECLINED,
            "creditCardHolderInfo": HOLDER,
            "remoteIp": "177.10.1.2",
        }
        declined = await h.api.post(
            "/payments/asaas/confirm", json=body, headers=h.h(**{"Idempotency-Key": secrets.token_hex(8)})
        )
        assert declined.status_code == 402, declined.text
        err = declined.json()["error"]
        assert err["code"] == "card_declined" and err["details"]["errors"][0]["code"] == "invalid_creditCard"
        assert "não autorizada" in err["details"]["errors"][0]["description"]
        assert await h.deal_stage(card_deal) == "open"
        body["creditCard"] = APPROVED
        ok = await h.api.post(
            "/payments/asaas/confirm", json=body, headers=h.h(**{"Idempotency-Key": secrets.token_hex(8)})
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "CONFIRMED" and ok.json()["receiptUrl"]
        assert await h.deal_stage(card_deal) == "won"

        # An unpaid charge going overdue asks Luddy to follow up.
        _, late_deal = await h.lead_and_deal()
        late = (await h.intent("pix", late_deal)).json()
        await h.asaas.sandbox_force_overdue(late["asaasPaymentId"])
        await eventually(lambda: _is(h, late["intentId"], "OVERDUE"), what="OVERDUE")
        assert await h.count_events("payment.overdue", "intent_id", late["intentId"]) == 1
        assert await h.deal_stage(late_deal) == "open"

        # Time passes: boleto credited D+1 business day, card D+32 → RECEIVED.
        await h.admin.advance_clock(days=40)
        await eventually(lambda: _is(h, boleto["intentId"], "RECEIVED"), what="boleto RECEIVED")
        await eventually(lambda: _is(h, card["intentId"], "RECEIVED"), what="card RECEIVED")
        for deal in (boleto_deal, card_deal):
            assert await h.count_events("deal.won", "deal_id", deal) == 1
        for intent in (boleto, card):
            assert await h.count_events("payment.succeeded", "intent_id", intent["intentId"]) == 1


async def _is(h: Harness, intent_id: str, status: str) -> bool:
    return await _status(h, intent_id) == status


async def test_duplicates_shuffled_order_and_a_killed_reconciler_converge_once(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    sandbox = {"duplicate_rate": 0.2, "seed": 11, "nonsequential_parallelism": 8}
    async with harness(settings, make_member, migrated.relay_url, sandbox_config=sandbox, worker=False) as h:
        r = await h.provision(sendType=WebhookSendType.NON_SEQUENTIALLY.value)
        assert r.status_code == 200
        intents: list[tuple[dict[str, str], str, str]] = []
        for i in range(12):
            _, deal = await h.lead_and_deal()
            method = "pix" if i % 2 else "boleto"
            intents.append(((await h.intent(method, deal)).json(), deal, method))
        for intent, _, _ in intents:
            await h.asaas.sandbox_confirm_payment(intent["asaasPaymentId"])
        await h.admin.advance_clock(days=3)  # boletos credited: CONFIRMED then RECEIVED

        first = h.new_worker(min_idle_ms=300)
        await eventually(lambda: _handled(first, 5), what="first worker progress")
        await first.kill()  # mid-way: whatever it was doing rolls back and stays pending
        pending = await h.redis.xpending(h.stream, "payments")
        assert pending["pending"] > 0, "the killed worker left nothing to reclaim"
        h.new_worker(min_idle_ms=300)

        async def settled() -> bool:
            return all([await _is(h, i["intentId"], "RECEIVED") for i, _, _ in intents])

        await eventually(settled, within_s=30, what="every intent RECEIVED")
        # Delivered events: each stored once, duplicates included in the deliveries.
        rows = await h.fetch("select event_id, outcome from asaas_events where tenant_id = $1")
        assert len(rows) == len({r["event_id"] for r in rows})
        await eventually(lambda: _all_processed(h), what="every stored event processed")
        payments = await h.fetch("select external_id, status from payments where tenant_id = $1")
        assert Counter(p["external_id"] for p in payments) == Counter(i["asaasPaymentId"] for i, _, _ in intents)
        assert {p["status"] for p in payments} == {"RECEIVED"}
        for intent, deal, _ in intents:
            assert await h.deal_stage(deal) == "won"
            assert await h.count_events("deal.won", "deal_id", deal) == 1
            assert await h.count_events("payment.succeeded", "intent_id", intent["intentId"]) == 1


async def _handled(w: object, n: int) -> bool:
    return w.worker.handled >= n  # type: ignore[attr-defined]


async def _all_processed(h: Harness) -> bool:
    rows = await h.fetch("select count(*) as n from asaas_events where tenant_id = $1 and processed_at is null")
    return rows[0]["n"] == 0


async def test_endpoint_down_until_interrupted_then_reenabled_delivers_everything(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    async with harness(settings, make_member, migrated.relay_url, provision=False) as h:
        dead = f"http://127.0.0.1:{_closed_port()}/webhooks/asaas"
        r = await h.provision(url=dead)
        assert r.status_code == 200
        hook_id = r.json()["webhookId"]
        _, deal = await h.lead_and_deal()
        intent = (await h.intent("pix", deal)).json()
        await h.asaas.sandbox_confirm_payment(intent["asaasPaymentId"])

        async def interrupted() -> bool:
            return (await h.asaas.get_webhook(hook_id)).interrupted

        await eventually(interrupted, within_s=20, what="queue interrupted after 15 failures")
        assert await _status(h, intent["intentId"]) == "PENDING"
        resumed = await h.provision()  # our endpoint is back: point at it and re-enable
        assert resumed.status_code == 200 and resumed.json()["resumed"] is True
        assert resumed.json()["webhookId"] == hook_id and resumed.json()["interrupted"] is False
        await eventually(lambda: _is(h, intent["intentId"], "RECEIVED"), what="delivered after re-enable")
        events = await h.fetch("select event_type from asaas_events where tenant_id = $1 order by id")
        assert [e["event_type"] for e in events] == ["PAYMENT_CREATED", "PAYMENT_RECEIVED"]
        assert await h.deal_stage(deal) == "won"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_drift_repair_finds_a_payment_whose_webhook_never_came(
    settings: Settings, make_member: MakeMember, migrated: Infra
) -> None:
    async with harness(settings, make_member, migrated.relay_url, provision=False) as h:
        _, deal = await h.lead_and_deal()
        intent = (await h.intent("pix", deal)).json()
        await h.asaas.sandbox_confirm_payment(intent["asaasPaymentId"])  # no webhook configured
        await asyncio.sleep(0.3)
        assert await _status(h, intent["intentId"]) == "PENDING"
        today = await h.admin.today()
        report = await repair_drift(h.pool, h.tenant_id, h.accounts, since=today)
        assert report.scanned == 1 and report.unmatched == 0
        assert [(c["intentId"], c["from"], c["to"], c["dealWon"]) for c in report.changes] == [
            (intent["intentId"], "PENDING", "RECEIVED", True)
        ]
        assert await _status(h, intent["intentId"]) == "RECEIVED"
        assert await h.deal_stage(deal) == "won"
        again = await repair_drift(h.pool, h.tenant_id, h.accounts, since=date(2000, 1, 1))
        assert again.changes == [] and again.scanned == 1
        assert await h.count_events("payments.reconciled", "tenantId", str(h.tenant_id)) == 2
