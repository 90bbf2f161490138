"""The seed's payments acceptance on the real platform (`tridium up`): the demo tenant's
Asaas integration points at the sandbox the launcher started, its webhook at the Serve
gateway; the PaymentsWorker deployment reconciles. Pix intent → payer confirms in the
sandbox → webhook → payment.succeeded → deal won."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest

from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN

from .conftest import Platform

pytestmark = pytest.mark.cluster


async def _sandbox_url(platform: Platform, within_s: float = 60.0) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = platform.log_path.read_text()
        found = re.search(r"Asaas sandbox (http://\S+) \(simulated", text)
        if found:
            return found.group(1)
        assert "demo payments not configured" not in text, text[-3000:]
        await asyncio.sleep(0.5)
    raise AssertionError(f"the launcher never reported its Asaas sandbox:\n{platform.log_path.read_text()[-3000:]}")


async def test_pix_checkout_wins_the_deal_through_serve(platform: Platform) -> None:
    sandbox = await _sandbox_url(platform)
    headers = {"Authorization": f"Bearer {platform.token}", "X-Tenant-Id": "demo"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=30) as c:
        lead = await c.post("/leads", json={"name": "Pix Lead"}, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert lead.status_code == 201, lead.text
        deal = await c.post("/deals", json={"lead_id": lead.json()["id"], "title": "Plano", "value_cents": 9900})
        assert deal.status_code == 201, deal.text
        body = {
            "amount": "99.00",
            "method": "pix",
            "customer": {"name": "Pix Lead", "cpfCnpj": "24971563792"},
            "meta": {"lead_id": lead.json()["id"], "deal_id": deal.json()["id"]},
        }
        intent = await c.post("/payments/asaas/intent", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert intent.status_code == 201, intent.text
        assert intent.json()["pix"]["payload"]
        async with httpx.AsyncClient(timeout=10) as asaas:
            confirmed = await asaas.post(
                f"{sandbox}/v3/sandbox/payment/{intent.json()['asaasPaymentId']}/confirm",
                headers={"access_token": DEFAULT_ACCESS_TOKEN, "User-Agent": "tests"},
            )
        assert confirmed.status_code == 200, confirmed.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = (await c.get(f"/payments/{intent.json()['intentId']}")).json()
            deals = (await c.get("/deals", params={"lead_id": lead.json()["id"]})).json()["items"]
            if got["status"] == "RECEIVED" and deals[0]["stage"] == "won":
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(
                f"not reconciled through Serve: {got} {deals}\n{platform.log_path.read_text()[-2000:]}"
            )


async def test_overdue_boleto_gets_luddys_followup_on_the_leads_thread(platform: Platform) -> None:
    """PAYMENT_OVERDUE → webhook → reconcile → payment.overdue on the bus → the
    AgentDispatcher → the demo tenant's Luddy actor writes once to the lead's thread."""
    sandbox = await _sandbox_url(platform)
    headers = {"Authorization": f"Bearer {platform.token}", "X-Tenant-Id": "demo"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=30) as c:
        lead = await c.post("/leads", json={"name": "Boleto Lead"}, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert lead.status_code == 201, lead.text
        lead_id = lead.json()["id"]
        thread = await c.post("/threads", json={"lead_id": lead_id, "channel": "whatsapp", "external_id": "5511977"})
        assert thread.status_code == 201, thread.text
        body = {
            "amount": "149.90",
            "method": "boleto",
            "customer": {"name": "Boleto Lead", "cpfCnpj": "24971563792"},
            "meta": {"lead_id": lead_id},
        }
        intent = await c.post("/payments/asaas/intent", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert intent.status_code == 201, intent.text
        async with httpx.AsyncClient(timeout=10) as asaas:
            overdue = await asaas.post(
                f"{sandbox}/v3/sandbox/payment/{intent.json()['asaasPaymentId']}/overdue",
                headers={"access_token": DEFAULT_ACCESS_TOKEN, "User-Agent": "tests"},
            )
        assert overdue.status_code == 200, overdue.text
        deadline = time.monotonic() + 90
        items: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            items = (await c.get("/messages", params={"thread_id": thread.json()["id"]})).json()["items"]
            if items:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"no follow-up from Luddy:\n{platform.log_path.read_text()[-3000:]}")
        await asyncio.sleep(2)  # a late duplicate would show up by now
        items = (await c.get("/messages", params={"thread_id": thread.json()["id"]})).json()["items"]
        assert len(items) == 1, items
        text = str(items[0]["body"])
        assert "R$ 149,90" in text and "boleto" in text and intent.json()["invoiceUrl"] in text
