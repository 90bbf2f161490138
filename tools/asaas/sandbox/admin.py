"""Client for the Tridium-only sandbox controls (clock, faults, dunning progress). Never
points at Asaas: these paths exist only on our local sandbox."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from .config import DEFAULT_ACCESS_TOKEN


class SandboxAdmin:
    def __init__(self, http: httpx.AsyncClient, base_url: str, access_token: str = DEFAULT_ACCESS_TOKEN) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"access_token": access_token, "User-Agent": "tridium-sandbox-admin"}

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._http.post(self._base + path, json=body, headers=self._headers)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def clock(self) -> dict[str, Any]:
        """The sandbox's notion of now/today (Brazil time plus any advance)."""
        response = await self._http.get(self._base + "/v3/sandbox/clock", headers=self._headers)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def today(self) -> date:
        return date.fromisoformat((await self.clock())["today"])

    async def advance_clock(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> dict[str, Any]:
        """Move the sandbox clock forward; due dates and credit dates fire their events."""
        return await self._post("/v3/sandbox/clock/advance", {"days": days, "hours": hours, "seconds": seconds})

    async def advance_dunning(self, dunning_id: str) -> dict[str, Any]:
        """The step Asaas would take on its own: PENDING → AWAITING_APPROVAL → PROCESSED,
        AWAITING_CANCELLATION → CANCELLED."""
        return await self._post(f"/v3/sandbox/paymentDunnings/{dunning_id}/advance", {})

    async def receive_dunning(self, dunning_id: str) -> dict[str, Any]:
        """The debtor pays through the dunning: dunning PAID, payment DUNNING_RECEIVED,
        ``PAYMENT_DUNNING_RECEIVED`` fires."""
        return await self._post(f"/v3/sandbox/paymentDunnings/{dunning_id}/receive", {})

    async def drop_next_response(self, method: str, path: str, count: int = 1) -> None:
        """The next ``count`` matching calls are committed, then the connection is cut."""
        await self._post("/v3/sandbox/faults", {"dropResponse": {"method": method, "path": path, "count": count}})

    async def rate_limit_next(self, count: int, reset_seconds: int = 1) -> None:
        """The next ``count`` API calls get 429 with ``RateLimit-Reset: reset_seconds``."""
        await self._post("/v3/sandbox/faults", {"rateLimit": {"count": count, "resetSeconds": reset_seconds}})

    async def fail_next(self, method: str, path: str, status: int = 503, count: int = 1) -> None:
        """The next ``count`` matching calls fail with ``status`` before being processed."""
        await self._post(
            "/v3/sandbox/faults",
            {"serverError": {"method": method, "path": path, "status": status, "count": count}},
        )


__all__ = ["SandboxAdmin"]
