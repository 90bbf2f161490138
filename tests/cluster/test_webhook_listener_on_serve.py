"""The webhook listener on the real platform (`tridium up`, ADR 0009): a Serve deployment
serving /webhooks/* on its own port, the URL the launcher gives the providers' sandboxes.
The Pix, WhatsApp, Instagram and e-mail tests of this tier deliver through it; this file
checks the listener itself: its health checks Postgres and Redis (Ray is "not attached":
the replica's own health check covers the process), the Asaas sandbox was pointed at it,
a bad delivery is a 4xx with nothing stored, and nothing but webhooks is served there."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from .conftest import Platform

pytestmark = pytest.mark.cluster


async def _asaas_webhook_url(platform: Platform, within_s: float = 60.0) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = re.search(
            r"Asaas sandbox \S+ \(simulated[^)]*\): demo webhook \S+ -> (\S+)", platform.log_path.read_text()
        )
        if found:
            return found.group(1)
        await asyncio.sleep(0.5)
    raise AssertionError(f"no demo webhook reported:\n{platform.log_path.read_text()[-3000:]}")


async def test_the_listener_is_healthy_and_the_providers_url(platform: Platform) -> None:
    assert platform.webhooks_url, platform.log_path.read_text()[-3000:]
    assert platform.webhooks_url != platform.base_url
    async with httpx.AsyncClient(base_url=platform.webhooks_url, timeout=30) as c:
        health = await c.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {"postgres": "ok", "redis": "ok", "ray": "not attached"}
        assert await _asaas_webhook_url(platform) == f"{platform.webhooks_url}/webhooks/asaas"

        unsigned = await c.post("/webhooks/asaas", json={"id": "evt_x", "event": "PAYMENT_CREATED"})
        assert unsigned.status_code == 401, unsigned.text
        assert unsigned.json()["error"]["code"] == "unauthorized"
        api = await c.get("/leads", headers={"Authorization": f"Bearer {platform.token}", "X-Tenant-Id": "demo"})
        assert api.status_code == 404
        assert platform.base_url in api.json()["error"]["message"]
    # The gateway still serves the webhook routes (a provider pointed at the API's URL).
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=30) as c:
        old = await c.post("/webhooks/asaas", json={"id": "evt_x", "event": "PAYMENT_CREATED"})
        assert old.status_code == 401, old.text
