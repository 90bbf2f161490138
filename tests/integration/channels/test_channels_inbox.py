"""Instagram, e-mail and web chat end to end through the inbox core, without Ray: the
gateway under uvicorn on a socket, the outbox relay, the InboxWorker and Luddy in-process
(``tests/inbox_support.py``), and this branch's sandboxes. Every hop crosses a socket or
the real Postgres/Redis.

* e-mail: the customer writes, Luddy's answer leaves over SMTP threaded under her
  Message-ID; her reply from her client lands in the same conversation and Luddy's next
  answer threads under it (References carry the whole chain);
* widget: a visitor's message gets Luddy's answer on the SSE stream;
* Instagram: Luddy answers through the send API; the echo and the read update the row.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tools.asaas.sandbox import background_server
from tools.channels.email.sandbox import EmailSandboxConfig, RunningEmailSandbox, running_email_sandbox
from tools.channels.instagram.sandbox import InstagramSandbox, InstagramSandboxConfig, create_app

from ...conftest import Infra, MakeMember
from ...inbox_support import InboxHarness, eventually, inbox_harness

pytestmark = pytest.mark.asyncio(loop_scope="session")
ORIGIN = "https://shop.example"


@pytest.fixture
async def h(settings: Settings, make_member: MakeMember, migrated: Infra) -> AsyncIterator[InboxHarness]:
    async with inbox_harness(settings, make_member, migrated.relay_url) as running:
        yield running


async def _provision(h: InboxHarness, body: dict[str, Any]) -> dict[str, Any]:
    r = await h.api.post("/admin/channels/accounts", json=body, headers=h.h())
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _on_gateway(h: InboxHarness, webhook_url: str) -> str:
    """The provisioning answer names the listener's URL (ADR 0009); this tier has no listener,
    so the same path is delivered to the gateway under uvicorn."""
    url = httpx.URL(webhook_url)
    assert url.path.startswith("/webhooks/") and str(h.tenant_id) in url.path, webhook_url
    return h.gateway_url + url.path


async def test_email_answers_thread_both_ways(h: InboxHarness) -> None:
    address = f"vendas-{str(h.tenant_id)[:8]}@tenant.sandbox.test"
    config = EmailSandboxConfig(signing_key="mg-key", recipient=address)
    sandbox: RunningEmailSandbox
    async with running_email_sandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.base_url) as mail:
        account = await _provision(
            h,
            {
                "channel": "email",
                "provider": "mailgun",
                "external_id": address,
                "config": {"smtp_host": sandbox.smtp_host, "smtp_port": sandbox.smtp_port, "from_name": "Luddy"},
                "secrets": {"signing_key": "mg-key"},
            },
        )
        config.webhook_url = _on_gateway(h, account["webhook_url"])
        assert config.webhook_url.startswith(h.gateway_url)
        customer = "ana@customer.sandbox.test"
        first = await mail.post(
            "/sandbox/inbound", json={"from": f"Ana <{customer}>", "subject": "Plano anual", "text": "Quanto custa?"}
        )
        assert first.json()["deliveries"] == [200], first.text
        first_id = first.json()["message_id"]

        async def answered(n: int) -> bool:
            return len(sandbox.sandbox.received) >= n

        await eventually(lambda: answered(1), 30, "Luddy's first e-mail at the SMTP sandbox")
        ours = sandbox.sandbox.received[0]
        assert ours.rcpt_to == [customer]
        assert ours.headers["in-reply-to"] == first_id and ours.headers["references"] == first_id
        assert ours.headers["subject"] == "Re: Plano anual" and ours.text.strip()
        our_id = ours.headers["message-id"]

        again = await mail.post("/sandbox/reply", json={"message_id": our_id, "text": "E no mensal?"})
        assert again.json()["deliveries"] == [200], again.text
        reply_id = again.json()["message_id"]
        await eventually(lambda: answered(2), 30, "Luddy's answer to the reply")
        second = sandbox.sandbox.received[1]
        assert second.headers["in-reply-to"] == reply_id
        assert second.headers["references"].split() == [first_id, our_id, reply_id]
        assert second.headers["subject"] == "Re: Plano anual"
    threads = await h.fetch("select id from threads where tenant_id = $1 and channel = 'email'")
    assert len(threads) == 1  # the reply joined the conversation instead of opening another
    bodies = [
        r["body"]
        for r in await h.fetch(
            "select body from messages where tenant_id = $1 and thread_id = $2 and direction = 'in' "
            "order by created_at",
            threads[0]["id"],
        )
    ]
    assert bodies == ["Quanto custa?", "E no mensal?"]  # the quoted history was cut


async def test_widget_streams_luddys_answer(h: InboxHarness) -> None:
    widget = await _provision(
        h,
        {
            "channel": "chat",
            "provider": "webchat",
            "external_id": "new",
            "config": {"allowed_origins": [ORIGIN]},
        },
    )
    key = widget["external_id"]
    headers = {"Origin": ORIGIN}
    session = await h.api.post(f"/widget/{key}/sessions", json={}, headers=headers)
    assert session.status_code == 201, session.text
    token = session.json()["visitor_token"]
    posted = await h.api.post(
        f"/widget/{key}/messages",
        json={"client_message_id": "m1", "text": "Vocês entregam em Campinas?"},
        headers={**headers, "X-Visitor-Token": token},
    )
    assert posted.status_code == 202, posted.text
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async with h.api.stream("GET", f"/widget/{key}/stream", params={"token": token}, headers=headers) as r:
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if any(e["from"] == "agent" for e in events):
                        return

    await asyncio.wait_for(read(), timeout=40)
    assert (events[0]["from"], events[0]["text"]) == ("visitor", "Vocês entregam em Campinas?")
    agent = next(e for e in events if e["from"] == "agent")
    assert agent["text"].strip()


async def test_instagram_answer_echo_and_read(h: InboxHarness) -> None:
    ig_id = f"1784{str(h.tenant_id.int)[:10]}"
    config = InstagramSandboxConfig(ig_user_id=ig_id, access_token="IGAA-t", app_secret="ig-secret")
    app = create_app(config)
    sb: InstagramSandbox = app.state.sandbox
    async with background_server(app) as base, httpx.AsyncClient(base_url=base) as ig:
        account = await _provision(
            h,
            {
                "channel": "instagram",
                "provider": "instagram",
                "external_id": ig_id,
                "base_url": base,
                "secrets": {"access_token": "IGAA-t", "app_secret": "ig-secret"},
            },
        )
        config.webhook_url = _on_gateway(h, account["webhook_url"])
        r = await ig.post(
            "/sandbox/inbound", json={"customer_id": "IGSID42", "text": "oi, tem o tênis 42?", "times": 2}
        )
        assert r.json()["deliveries"] == [200, 200], r.text

        async def sent() -> bool:
            return len(sb.sent) >= 1

        await eventually(sent, 30, "Luddy's answer at the Instagram sandbox")
        await asyncio.sleep(1.0)
        assert len(sb.sent) == 1  # the duplicate delivery did not make a second answer
        answer = sb.sent[0]
        assert answer["recipient_id"] == "IGSID42" and answer["messaging_type"] == "RESPONSE"
        await ig.post("/sandbox/read", json={"customer_id": "IGSID42", "mid": answer["message_id"]})

        async def read() -> bool:
            rows = await h.fetch(
                "select status from outbound_deliveries where tenant_id = $1 and provider_message_id = $2",
                answer["message_id"],
            )
            return bool(rows) and rows[0]["status"] == "read"

        await eventually(read, 20, "the read status on the outbound delivery")
