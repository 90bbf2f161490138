"""Payments over real HTTP: gateway (uvicorn) ⇄ Asaas sandbox server, real Postgres and
Redis, the outbox relay and the payments worker in-process. The seed's acceptance test:
Pix intent → sandbox confirm → webhook → payment.succeeded → deal.won."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from core.settings import Settings
from tests.payments_support import Harness, eventually, harness
from tools.payments import new_webhook_token

from ..conftest import Infra, MakeMember


@pytest.fixture
async def h(settings: Settings, make_member: MakeMember, migrated: Infra) -> AsyncIterator[Harness]:
    async with harness(settings, make_member, migrated.relay_url) as running:
        yield running


async def test_pix_intent_confirmed_in_sandbox_wins_the_deal_once(h: Harness, make_member: MakeMember) -> None:
    lead_id, deal_id = await h.lead_and_deal()
    r = await h.intent("pix", deal_id)
    assert r.status_code == 201, r.text
    intent = r.json()
    assert intent["status"] == "PENDING" and intent["method"] == "pix"
    assert intent["leadId"] == lead_id and intent["dealId"] == deal_id
    assert intent["pix"]["payload"].startswith("000201") and intent["pix"]["encodedImage"]
    assert intent["invoiceUrl"].startswith(h.sandbox.base_url)
    payment_id = intent["asaasPaymentId"]

    await h.asaas.sandbox_confirm_payment(payment_id)  # the payer pays the Pix

    async def paid() -> bool:
        got = await h.api.get(f"/payments/{intent['intentId']}", headers=h.h())
        return got.json()["status"] == "RECEIVED"

    await eventually(paid, what="intent RECEIVED")
    await eventually(lambda: _won(h, deal_id), what="deal won")
    assert await h.count_events("payment.succeeded", "intent_id", intent["intentId"]) == 1
    assert await h.count_events("deal.won", "deal_id", deal_id) == 1
    got = (await h.api.get(f"/payments/{intent['intentId']}", headers=h.h())).json()
    assert got["paidAt"] is not None and got["asaasPaymentId"] == payment_id
    rows = await h.fetch(
        "select status, value_cents from payments where tenant_id = $1 and external_id = $2", payment_id
    )
    assert [(r["status"], r["value_cents"]) for r in rows] == [("RECEIVED", 19990)]
    deal = (await h.api.get(f"/deals?lead_id={lead_id}", headers=h.h())).json()["items"][0]
    assert deal["stage"] == "won"
    listed = (await h.api.get("/payments?status=RECEIVED", headers=h.h())).json()["items"]
    assert [i["intentId"] for i in listed] == [intent["intentId"]]
    assert (await h.api.get("/payments?status=PENDING", headers=h.h())).json()["items"] == []
    stranger = await make_member()  # another tenant cannot see it, by id or in lists
    assert (await h.api.get(f"/payments/{intent['intentId']}", headers=stranger.headers())).status_code == 404
    assert (await h.api.get("/payments", headers=stranger.headers())).json()["items"] == []


async def _won(h: Harness, deal_id: str) -> bool:
    return await h.deal_stage(deal_id) == "won"


async def test_intent_replay_is_byte_identical_and_matches_the_contract(h: Harness) -> None:
    """A decimal amount is the string the OpenAPI document promises, the first time, on
    replay (byte for byte) and on GET."""
    _, deal_id = await h.lead_and_deal(value_cents=14990)
    key = secrets.token_hex(12)
    first = await h.intent("pix", deal_id, key=key, amount="149.90")
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == "149.9" and first.json()["amountCents"] == 14990
    again = await h.intent("pix", deal_id, key=key, amount="149.90")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    got = await h.api.get(f"/payments/{first.json()['intentId']}", headers=h.h())
    assert got.json()["amount"] == first.json()["amount"]


async def test_the_same_key_never_creates_a_second_asaas_payment(h: Harness) -> None:
    _, deal_id = await h.lead_and_deal()
    key = secrets.token_hex(12)
    # 1. Asaas commits the charge and the answer is lost: the connector finds it by
    #    externalReference instead of creating another.
    await h.admin.drop_next_response("POST", "/v3/payments")
    first = await h.intent("pix", deal_id, key=key)
    assert first.status_code == 201, first.text
    again = await h.intent("pix", deal_id, key=key)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"

    # 2. The first call dies half-way: Asaas created the charge, then our request failed
    #    (QR code unavailable) and nothing committed. The retry recovers the same charge.
    key2 = secrets.token_hex(12)
    await h.admin.fail_next("GET", "/v3/payments/{id}/pixQrCode", status=503, count=20)
    failed = await h.intent("pix", deal_id, key=key2)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "asaas_unavailable"
    await h.clear_faults()
    retried = await h.intent("pix", deal_id, key=key2)
    assert retried.status_code == 201, retried.text
    for body in (first.json(), retried.json()):
        same_ref = [
            p for p in h.sandbox.sandbox.store.state.payments.values() if p.external_reference == body["intentId"]
        ]
        assert len(same_ref) == 1, f"{len(same_ref)} Asaas payments for intent {body['intentId']}"
    assert len(h.sandbox.sandbox.store.state.payments) == 2
    # The same key with another body is refused, not executed.
    other = await h.intent("boleto", deal_id, key=key)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_mismatch"


async def _webhook_deliveries(http: httpx.AsyncClient, gateway_url: str) -> dict[str, float]:
    text = (await http.get(f"{gateway_url}/metrics")).text
    out = {"stored": 0.0, "duplicate": 0.0}
    for line in text.splitlines():
        if line.startswith("tridium_webhook_deliveries_total{"):
            labels, value = line.rsplit(" ", 1)
            for outcome in out:
                if f'outcome="{outcome}"' in labels:
                    out[outcome] = float(value)
    return out


async def test_webhook_token_body_and_duplicates(h: Harness, make_member: MakeMember) -> None:
    url = f"{h.gateway_url}/webhooks/asaas"
    event = {
        "id": "evt_test_1",
        "event": "PAYMENT_CREATED",
        "dateCreated": "2026-01-01 10:00:00",
        "payment": {"id": "pay_x"},
    }
    forged = new_webhook_token(h.tenant_id)  # right shape and tenant, wrong secret
    other = await make_member()
    async with httpx.AsyncClient(timeout=10) as http:
        for headers in (
            {},
            {"asaas-access-token": forged},
            {"asaas-access-token": "x" * 40},
            {"asaas-access-token": new_webhook_token(other.tenant_id)},
        ):
            r = await http.post(url, json=event, headers=headers)
            assert r.status_code == 401, (headers, r.text)
        rows = await h.fetch("select count(*) as n from asaas_events where tenant_id = $1")
        assert rows[0]["n"] == 0
        token = await _provisioned_token(h)
        good = {"asaas-access-token": token}
        before = await _webhook_deliveries(http, h.gateway_url)
        for _ in range(3):  # the first stores, the duplicates answer 200 and change nothing
            r = await http.post(url, json=event, headers=good)
            assert r.status_code == 200, r.text
        assert r.json() == {"received": True, "duplicate": True}
        after = await _webhook_deliveries(http, h.gateway_url)
        # What the TridiumWebhookRetriesHigh alert reads: one stored, two provider retries.
        assert (after["stored"] - before["stored"], after["duplicate"] - before["duplicate"]) == (1, 2)
        stored = await h.fetch("select event_type from asaas_events where tenant_id = $1 and event_id = 'evt_test_1'")
        assert [s["event_type"] for s in stored] == ["PAYMENT_CREATED"]
        assert await h.count_events("asaas.event.received", "event_id", "evt_test_1") == 1
        bad_bodies = [
            b"not json",
            b"[1,2]",
            b'{"event": "PAYMENT_CREATED"}',
            b'{"id": "e", "event": "x y"}',
            b'{"id": "e\\u0000", "event": "PAYMENT_CREATED"}',
            b'{"id": "e", "event": "PAYMENT_X", "payment": 5}',
            json.dumps({"id": "e" * 300, "event": "PAYMENT_CREATED"}).encode(),
            b"",
        ]
        for body in bad_bodies:
            r = await http.post(url, content=body, headers={**good, "Content-Type": "application/json"})
            assert r.status_code == 400, (body, r.status_code, r.text)
            assert r.json()["error"]["code"] == "malformed_webhook"
        errors = await h.fetch(
            "select count(*) as n from error_logs where tenant_id = $1 and source = 'webhooks.asaas'"
        )
        assert errors[0]["n"] == len(bad_bodies)
        big = await http.post(url, content=b"{" + b" " * 2_000_000 + b"}", headers=good)
        assert big.status_code == 413


async def _provisioned_token(h: Harness) -> str:
    """Rotate the webhook token through the API and read the new one from the sandbox."""
    r = await h.provision(rotateToken=True)
    assert r.status_code == 200 and r.json()["tokenRotated"]
    hook = h.sandbox.sandbox.store.state.webhooks[r.json()["webhookId"]]
    assert hook.auth_token is not None
    return hook.auth_token
