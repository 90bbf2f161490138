"""The inbox through Ray Serve (`tridium up`): the WhatsApp sandbox the launcher started
delivers a burst of 4 texts (one delivered twice) and shuffled status callbacks; the
InboxWorker deployment answers with exactly one Luddy run, sent once through the sandbox,
delivered/read recorded; a handoff silences Luddy and a staff reply reaches the sandbox."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from ..conftest import MakeMember
from .conftest import Platform

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTACT = "5511977776666"


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within_s}s")
        await asyncio.sleep(0.25)


async def test_whatsapp_burst_handoff_and_staff_reply_through_serve(
    platform: Platform, make_member: MakeMember
) -> None:
    assert platform.whatsapp_url, "tridium up did not start the WhatsApp sandbox"
    m = await make_member()
    h = m.headers()
    phone_id = str(10**14 + secrets.randbelow(10**14))
    token, app_secret = "EAAG" + secrets.token_hex(20), secrets.token_hex(16)
    async with (
        httpx.AsyncClient(base_url=platform.base_url, timeout=30) as api,
        httpx.AsyncClient(base_url=platform.whatsapp_url, timeout=30) as wa,
    ):
        r = await api.post(
            "/agents/triad", json={"luddy": {"guardrails": {"handoff_on_low_confidence": False}}}, headers=h
        )
        assert r.status_code == 200, r.text
        r = await api.post(
            "/admin/channels/accounts",
            json={
                "channel": "whatsapp",
                "provider": "whatsapp_cloud",
                "external_id": phone_id,
                "base_url": platform.whatsapp_url,
                "secrets": {"access_token": token, "app_secret": app_secret},
            },
            headers=h,
        )
        assert r.status_code == 200, r.text
        webhook = r.json()["webhook_url"]
        r = await wa.post(
            "/sandbox/accounts",
            json={"phone_number_id": phone_id, "access_token": token, "app_secret": app_secret, "webhook_url": webhook},
        )
        assert r.status_code == 200, r.text
        await wa.post("/sandbox/settings", json={"status_mode": "shuffled", "status_delay_s": 0.05})

        async def say(text: str) -> dict[str, Any]:
            r = await wa.post("/sandbox/inbound", json={"phone_number_id": phone_id, "from": CONTACT, "text": text})
            assert r.status_code == 200 and r.json()["gateway_status"] == 200, r.text
            out: dict[str, Any] = r.json()
            return out

        async def answers() -> list[dict[str, Any]]:
            r = await wa.get("/sandbox/messages", params={"to": CONTACT})
            return [x for x in r.json()["items"] if x["phone_number_id"] == phone_id]

        for text in ("Oi", "boa tarde", "queria uma informação", "vocês abrem sábado?"):
            await say(text)
        r = await wa.post("/sandbox/replay", json={"count": 1})
        assert r.json()["gateway_statuses"] == [200]

        async def one_read_answer() -> bool:
            r = await api.get("/inbox/conversations", headers=h)
            items = r.json()["items"]
            if not items:
                return False
            msgs = (await api.get("/messages", params={"thread_id": items[0]["id"]}, headers=h)).json()["items"]
            out = [x for x in msgs if x["direction"] == "out"]
            return len(out) == 1 and out[0]["status"] == "read"

        await _eventually(one_read_answer, 90, "one Luddy answer, read")
        await asyncio.sleep(2.5)  # past the quiet window: no second answer follows
        assert len(await answers()) == 1
        conv = (await api.get("/inbox/conversations", headers=h)).json()["items"][0]
        msgs = (await api.get("/messages", params={"thread_id": conv["id"]}, headers=h)).json()["items"]
        assert [x["body"] for x in msgs if x["direction"] == "in"] == [
            "Oi",
            "boa tarde",
            "queria uma informação",
            "vocês abrem sábado?",
        ]

        await say("quero falar com um atendente")

        async def pending() -> bool:
            r = await api.get("/inbox/conversations", params={"status": "pending_human"}, headers=h)
            return [i["id"] for i in r.json()["items"]] == [conv["id"]]

        await _eventually(pending, 60, "the handoff")
        await _eventually(lambda: _count(answers, 2), 30, "Luddy's handoff notice")
        await say("oi? tem alguém?")
        await asyncio.sleep(3.0)
        assert len(await answers()) == 2  # silent while a person owns it
        r = await api.post(f"/inbox/conversations/{conv['id']}/take", headers=h)
        assert r.status_code == 200 and r.json()["status"] == "human"
        r = await api.post(f"/inbox/conversations/{conv['id']}/reply", json={"text": "Oi! Sou a Ana."}, headers=h)
        assert r.status_code == 202, r.text

        async def staff_reply() -> bool:
            return any(x["body"].get("text", {}).get("body") == "Oi! Sou a Ana." for x in await answers())

        await _eventually(staff_reply, 30, "the staff reply at the sandbox")
        assert len(await answers()) == 3


async def _count(answers: Callable[[], Awaitable[list[dict[str, Any]]]], n: int) -> bool:
    return len(await answers()) == n
