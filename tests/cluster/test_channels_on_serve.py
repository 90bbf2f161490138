"""E-mail and web chat on the real platform (`tridium up`): the launcher's e-mail sandbox
and the demo tenant's accounts, the Serve gateway, the InboxWorker and Luddy (offline model).

* An e-mail to the demo inbox gets Luddy's answer through SMTP with In-Reply-To /
  References naming the customer's message; the customer's reply to it lands in the same
  conversation.
* The widget: a visitor session, a message, and Luddy's answer arriving on the SSE stream.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from .conftest import Platform

pytestmark = pytest.mark.cluster


async def _channels(platform: Platform, within_s: float = 90.0) -> tuple[str, str]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = platform.log_path.read_text()
        found = re.search(r"e-mail (http://\S+) \(SMTP :\d+\); widget key (\S+);", text)
        if found:
            return found.group(1), found.group(2)
        assert "demo channels not configured" not in text, text[-3000:]
        await asyncio.sleep(0.5)
    raise AssertionError(f"the launcher never reported its channel sandboxes:\n{platform.log_path.read_text()[-3000:]}")


async def _captured(http: httpx.AsyncClient, sandbox: str, count: int, within_s: float = 90.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        data: list[dict[str, Any]] = (await http.get(f"{sandbox}/sandbox/messages")).json()["data"]
        if len(data) >= count:
            return data
        await asyncio.sleep(0.5)
    raise AssertionError(f"the SMTP sandbox received fewer than {count} e-mails in {within_s}s")


async def test_email_reply_threads_in_the_customers_client(platform: Platform) -> None:
    sandbox, _ = await _channels(platform)
    customer = f"ana-{uuid.uuid4().hex[:6]}@customer.sandbox.test"
    async with httpx.AsyncClient(timeout=30) as http:
        sent = await http.post(
            f"{sandbox}/sandbox/inbound",
            json={"from": f"Ana <{customer}>", "subject": "Preço do plano", "text": "Quanto custa o plano anual?"},
        )
        assert sent.json()["deliveries"] == [200], sent.text
        first_id = sent.json()["message_id"]
        mails = await _captured(http, sandbox, 1)
        answer = next(m for m in mails if m["rcpt_to"] == [customer])
        assert answer["headers"]["in-reply-to"] == first_id
        assert first_id in answer["headers"]["references"].split()
        assert answer["headers"]["subject"] == "Re: Preço do plano"
        assert answer["text"].strip()
        # The customer answers from her client: the gateway threads it into the same conversation.
        reply = await http.post(
            f"{sandbox}/sandbox/reply",
            json={"message_id": answer["headers"]["message-id"], "text": "Fechado, obrigado!"},
        )
        assert reply.json()["deliveries"] == [200], reply.text
    headers = {"Authorization": f"Bearer {platform.token}", "X-Tenant-Id": "demo"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=30) as c:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            page = (await c.get("/inbox/conversations", params={"channel": "email", "limit": 50})).json()
            mine = [t for t in page["items"] if t["contact"] == customer]
            if mine:
                msgs = (await c.get("/messages", params={"thread_id": mine[0]["id"], "limit": 50})).json()
                bodies = [m["body"] for m in msgs["items"]]
                if "Fechado, obrigado!" in bodies:
                    assert "Quanto custa o plano anual?" in bodies
                    assert len(mine) == 1  # one thread per (account, contact): the reply did not fork it
                    return
            await asyncio.sleep(0.5)
    raise AssertionError(f"the customer's reply never joined the conversation: {page}")


async def test_the_widget_streams_luddys_answer(platform: Platform) -> None:
    _, key = await _channels(platform)
    origin = "http://localhost:3000"
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60, headers={"Origin": origin}) as c:
        session = await c.post(f"/widget/{key}/sessions", json={})
        assert session.status_code == 201, session.text
        token = session.json()["visitor_token"]
        posted = await c.post(
            f"/widget/{key}/messages",
            json={"client_message_id": "m1", "text": "Vocês entregam em Campinas?"},
            headers={"X-Visitor-Token": token},
        )
        assert posted.status_code == 202, posted.text
        events: list[dict[str, Any]] = []

        async def read() -> None:
            async with c.stream("GET", f"/widget/{key}/stream", params={"token": token}) as r:
                assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        events.append(json.loads(line[5:]))
                        if any(e["from"] == "agent" for e in events):
                            return

        await asyncio.wait_for(read(), timeout=90)
    assert events[0] == {**events[0], "from": "visitor", "text": "Vocês entregam em Campinas?"}
    assert next(e for e in events if e["from"] == "agent")["text"].strip()
