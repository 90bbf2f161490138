"""The channel routes through the real gateway app (Postgres, Redis): Instagram and
Mailgun webhooks into ``tools.inbox.ingest``, the web chat widget into ``accept`` and its
SSE stream. Signed → one durable row; forged → 401 and no row; malformed → 400 and an
error_logs row; another tenant's URL or key never reaches this tenant's rows."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx
from serve.app import build_fastapi
from tools.asaas.sandbox import background_server
from tools.channels.email.sandbox import EmailSandbox, EmailSandboxConfig
from tools.channels.instagram.sandbox import InstagramSandbox, InstagramSandboxConfig
from tools.channels.webchat import new_publishable_key
from tools.inbox import SecretBox, provision

from ..conftest import MakeMember, client_for

ORIGIN = "https://shop.example"


async def _provision(pool: asyncpg.Pool, settings: Settings, tenant: TenantId, **kw: Any) -> dict[str, Any]:
    box = SecretBox(settings.channel_secrets_key)
    async with tenant_tx(pool, tenant) as conn:
        return await provision(conn, tenant, box, name="test", base_url=None, **kw)


async def _count(pool: asyncpg.Pool, tenant: TenantId, sql: str, *args: Any) -> int:
    async with tenant_tx(pool, tenant) as conn:
        return int(await conn.fetchval(sql, tenant, *args))


async def _instagram(pool: asyncpg.Pool, settings: Settings, tenant: TenantId, ig_id: str, secret: str) -> None:
    await _provision(
        pool, settings, tenant, channel="instagram", provider="instagram", external_id=ig_id, config={},
        secrets={"access_token": "tok", "app_secret": secret, "verify_token": f"vt-{ig_id}"},
    )  # fmt: skip


def _ig_sandbox(app: FastAPI, tenant: TenantId, ig_id: str, secret: str) -> InstagramSandbox:
    sb = InstagramSandbox(
        InstagramSandboxConfig(ig_user_id=ig_id, app_secret=secret, webhook_url=f"/webhooks/instagram/{tenant}")
    )
    sb.http = client_for(app)
    return sb


def _ig_message(sb: InstagramSandbox, mid: str, text: str = "oi") -> bytes:
    item = {"sender": {"id": "IGSID7"}, "recipient": {"id": sb.config.ig_user_id}, "timestamp": 1764700000000}
    item["message"] = {"mid": mid, "text": text}
    return sb.webhook([item])


INBOUND = "select count(*) from inbound_deliveries where tenant_id = $1"
ERRORS = "select count(*) from error_logs where tenant_id = $1 and source = $2"


async def test_instagram_webhook_stores_once_and_refuses_forgeries(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a, b = await make_member(), await make_member()
    ig_a, ig_b = f"1784{secrets.randbelow(10**9)}", f"1785{secrets.randbelow(10**9)}"
    await _instagram(app_pool, settings, a.tenant_id, ig_a, "secret-a")
    await _instagram(app_pool, settings, b.tenant_id, ig_b, "secret-b")
    sb = _ig_sandbox(app, a.tenant_id, ig_a, "secret-a")
    try:
        body = _ig_message(sb, "mid-1")
        assert await sb.deliver(body, times=2) == [200, 200]  # a duplicate delivery
        assert await _count(app_pool, a.tenant_id, INBOUND) == 1
        assert await sb.deliver(_ig_message(sb, "mid-2"), sign_mode="wrong") == [401]
        assert await sb.deliver(_ig_message(sb, "mid-3"), sign_mode="none") == [401]
        assert await _count(app_pool, a.tenant_id, INBOUND) == 1
        # Tenant A's signed body sent to tenant B's URL: B's secret does not match → 401.
        sb.config.webhook_url = f"/webhooks/instagram/{b.tenant_id}"
        assert await sb.deliver(_ig_message(sb, "mid-4")) == [401]
        assert await _count(app_pool, b.tenant_id, INBOUND) == 0
        # Signed but malformed: 400 and an error_logs row, nothing stored.
        sb.config.webhook_url = f"/webhooks/instagram/{a.tenant_id}"
        assert await sb.deliver(b'{"object": "instagram", "entry": [{"id": 5, "messaging": [{}]}]}') == [400]
        assert await _count(app_pool, a.tenant_id, ERRORS, "webhooks.instagram") == 1
        assert await _count(app_pool, a.tenant_id, INBOUND) == 1
        async with client_for(app) as c:
            r = await c.post(
                f"/webhooks/instagram/{uuid.uuid4()}",
                content=body,
                headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            ok = await c.get(
                f"/webhooks/instagram/{a.tenant_id}",
                params={"hub.mode": "subscribe", "hub.verify_token": f"vt-{ig_a}", "hub.challenge": "42"},
            )
            assert ok.status_code == 200 and ok.text == "42"
            other = await c.get(
                f"/webhooks/instagram/{b.tenant_id}",
                params={"hub.mode": "subscribe", "hub.verify_token": f"vt-{ig_a}", "hub.challenge": "42"},
            )
            assert other.status_code == 403
    finally:
        assert sb.http is not None
        await sb.http.aclose()


async def test_instagram_echo_and_read_are_status_items(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a = await make_member()
    ig = f"1786{secrets.randbelow(10**9)}"
    await _instagram(app_pool, settings, a.tenant_id, ig, "s")
    sb = _ig_sandbox(app, a.tenant_id, ig, "s")
    try:
        echo = {
            "sender": {"id": ig},
            "recipient": {"id": "IGSID7"},
            "timestamp": 1,
            "message": {"mid": "o1", "is_echo": True},
        }
        read = {"sender": {"id": "IGSID7"}, "recipient": {"id": ig}, "timestamp": 2, "read": {"mid": "o1"}}
        assert await sb.deliver(sb.webhook([read, echo])) == [200]  # out of order: read before sent
        async with tenant_tx(app_pool, a.tenant_id) as conn:
            rows = await conn.fetch(
                "select kind, event_key from inbound_deliveries where tenant_id = $1 order by event_key", a.tenant_id
            )
        assert [(r["kind"], r["event_key"]) for r in rows] == [("status", "o1:read"), ("status", "o1:sent")]
    finally:
        assert sb.http is not None
        await sb.http.aclose()


async def test_mailgun_inbound_threads_dedupes_and_refuses(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a, b = await make_member(), await make_member()
    inbox_a = f"sales-{secrets.token_hex(3)}@a.sandbox.test"
    for member, address, key in ((a, inbox_a, "key-a"), (b, "sales@b.sandbox.test", "key-b")):
        await _provision(
            app_pool, settings, member.tenant_id, channel="email", provider="mailgun", external_id=address,
            config={"smtp_host": "127.0.0.1"}, secrets={"signing_key": key},
        )  # fmt: skip
    sb = EmailSandbox(
        EmailSandboxConfig(
            signing_key="key-a", webhook_url=f"/webhooks/email/mailgun/{a.tenant_id}/mime", recipient=inbox_a
        )
    )
    sb.http = client_for(app)
    try:
        raw = sb.compose(
            from_addr="Ana <ANA@customer.test>",
            subject="Preço",
            text="Quanto custa?",
            in_reply_to="<o1@a.sandbox.test>",
            references="<c0@customer.test> <o1@a.sandbox.test>",
        )
        assert await sb.post_mime(raw, sender="ana@customer.test", times=2) == [200, 200]
        async with tenant_tx(app_pool, a.tenant_id) as conn:
            items = await conn.fetch("select item from inbound_deliveries where tenant_id = $1", a.tenant_id)
        (item,) = [json.loads(r["item"]) if isinstance(r["item"], str) else r["item"] for r in items]
        assert item["contact"] == {"kind": "email", "value": "ana@customer.test", "name": "Ana"}
        assert item["reply_to"] == "<o1@a.sandbox.test>" and item["thread_hint"] == "<c0@customer.test>"
        assert item["extra"]["references"] == ["<o1@a.sandbox.test>", "<c0@customer.test>"]
        assert await sb.post_mime(
            sb.compose(from_addr="x@y.test", subject="s", text="t"), sender="x", sign_mode="wrong"
        ) == [401]
        assert await sb.post_mime(
            sb.compose(from_addr="x@y.test", subject="s", text="t"), sender="x", sign_mode="none"
        ) == [401]
        assert await sb.post_mime(b"this is not an e-mail", sender="x") == [400]
        assert await _count(app_pool, a.tenant_id, ERRORS, "webhooks.email") == 1
        big = sb.compose(
            from_addr="x@y.test", subject="s", text="t", attachments=[{"filename": "big.bin", "size": 11 * 1024 * 1024}]
        )
        assert await sb.post_mime(big, sender="x") == [413]
        assert json.loads(sb.deliveries[-1]["answer"])["error"]["code"] == "attachment_too_large"
        huge = sb.compose(
            from_addr="x@y.test", subject="s", text="t", attachments=[{"filename": "h", "size": 26 * 2**20}]
        )
        assert await sb.post_mime(huge, sender="x") == [413]
        assert json.loads(sb.deliveries[-1]["answer"])["error"]["code"] == "payload_too_large"
        assert await _count(app_pool, a.tenant_id, INBOUND) == 1
        sb.config.webhook_url = f"/webhooks/email/mailgun/{b.tenant_id}/mime"  # A's key on B's URL
        assert await sb.post_mime(sb.compose(from_addr="x@y.test", subject="s", text="t"), sender="x") == [401]
        assert await _count(app_pool, b.tenant_id, INBOUND) == 0
        async with client_for(app) as c:
            garbage = await c.post(
                f"/webhooks/email/mailgun/{a.tenant_id}/mime",
                content=b"\x00\x01",
                headers={"Content-Type": "multipart/form-data; boundary=zz"},
            )
            assert garbage.status_code in (400, 401) and "error" in garbage.json()
    finally:
        await sb.http.aclose()


async def _widget(pool: asyncpg.Pool, settings: Settings, tenant: TenantId) -> str:
    key = new_publishable_key(tenant)
    await _provision(
        pool, settings, tenant, channel="chat", provider="webchat", external_id=key,
        config={"allowed_origins": [ORIGIN]}, secrets={"visitor_secret": secrets.token_urlsafe(24)},
    )  # fmt: skip
    return key


async def test_widget_session_message_dedupe_cors_and_cross_tenant(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a, b = await make_member(), await make_member()
    key_a, key_b = await _widget(app_pool, settings, a.tenant_id), await _widget(app_pool, settings, b.tenant_id)
    async with client_for(app) as c:
        pre = await c.options(
            f"/widget/{key_a}/messages", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
        )
        assert pre.status_code == 204
        s = await c.post(f"/widget/{key_a}/sessions", json={}, headers={"Origin": ORIGIN})
        assert s.status_code == 201 and s.headers["access-control-allow-origin"] == ORIGIN
        token = s.json()["visitor_token"]
        evil = await c.post(f"/widget/{key_a}/sessions", json={}, headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in evil.headers
        msg = {"client_message_id": "c1", "text": "oi, tem frete?"}
        h = {"Origin": ORIGIN, "X-Visitor-Token": token}
        first = await c.post(f"/widget/{key_a}/messages", json=msg, headers=h)
        again = await c.post(f"/widget/{key_a}/messages", json=msg, headers=h)
        assert (first.status_code, first.json()["duplicate"], again.json()["duplicate"]) == (202, False, True)
        assert await _count(app_pool, a.tenant_id, INBOUND) == 1
        # A's visitor token against B's widget, a forged token, a key naming no widget: 401, nothing stored.
        assert (
            await c.post(f"/widget/{key_b}/messages", json=msg, headers={"X-Visitor-Token": token})
        ).status_code == 401
        assert (
            await c.post(f"/widget/{key_a}/messages", json=msg, headers={"X-Visitor-Token": token[:-2] + "xx"})
        ).status_code == 401
        fake_key = key_b.rsplit(".", 1)[0] + ".nope"
        assert (await c.post(f"/widget/{fake_key}/sessions", json={})).status_code == 401
        assert (await c.post("/widget/garbage/sessions", json={})).status_code == 401
        assert await _count(app_pool, b.tenant_id, INBOUND) == 0
        empty = await c.post(f"/widget/{key_a}/messages", json={"client_message_id": "c2", "text": ""}, headers=h)
        assert empty.status_code == 422


async def test_widget_rate_limit(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a = await make_member()
    key = await _widget(app_pool, settings, a.tenant_id)
    async with client_for(app, client_ip=f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}") as c:
        codes = [
            (await c.post(f"/widget/{key}/sessions", json={})).status_code
            for _ in range(settings.rate_limit_widget_sessions + 1)
        ]
    assert codes[:-1] == [201] * settings.rate_limit_widget_sessions and codes[-1] == 429


async def test_widget_streams_the_conversation(
    app: FastAPI, app_pool: asyncpg.Pool, settings: Settings, make_member: MakeMember
) -> None:
    a = await make_member()
    key = await _widget(app_pool, settings, a.tenant_id)
    async with client_for(app) as c:
        s = (await c.post(f"/widget/{key}/sessions", json={})).json()
        bad = await c.get(f"/widget/{key}/stream", params={"token": "wvt1.x.y"})
        assert bad.status_code == 401
        # The thread and messages as the inbox worker writes them (the worker is the core's).
        async with tenant_tx(app_pool, a.tenant_id) as conn:
            account_id = await conn.fetchval(
                "select id from channel_accounts where tenant_id = $1 and external_id = $2", a.tenant_id, key
            )
            thread = await conn.fetchval(
                """insert into threads (tenant_id, channel, external_id, channel_account_id)
                   values ($1, 'chat', $2, $3) returning id""",
                a.tenant_id, s["visitor_id"], account_id,
            )  # fmt: skip
            for n, (direction, body) in enumerate((("in", "oi"), ("out", "Olá! Como posso ajudar?"))):
                await conn.execute(
                    """insert into messages (tenant_id, thread_id, direction, sender, body, created_at)
                       values ($1, $2, $3, 'x', $4, now() + make_interval(secs => $5))""",
                    a.tenant_id, thread, direction, body, float(n),
                )  # fmt: skip
        got: list[dict[str, Any]] = []

        async def read() -> None:
            # A real socket: httpx's ASGITransport buffers whole responses, so SSE needs a server.
            async with (
                background_server(build_fastapi(settings)) as base,
                httpx.AsyncClient(base_url=base, timeout=10) as real,
                real.stream("GET", f"/widget/{key}/stream", params={"token": s["visitor_token"]}) as r,
            ):
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        got.append(json.loads(line[5:]))
                        if len(got) == 2:
                            return

        await asyncio.wait_for(read(), timeout=10)
    assert [(m["from"], m["text"]) for m in got] == [("visitor", "oi"), ("agent", "Olá! Como posso ajudar?")]


@pytest.mark.parametrize("path", ["/webhooks/instagram/not-a-uuid", "/webhooks/email/mailgun/not-a-uuid/mime"])
async def test_webhook_paths_validate_the_tenant(path: str, app: FastAPI) -> None:
    async with client_for(app) as c:
        r = await c.post(path, content=b"{}")
    assert r.status_code == 422 and "error" in r.json()


async def test_admin_provisions_a_widget_and_webhook_urls(app: FastAPI, make_member: MakeMember) -> None:
    owner, other = await make_member(), await make_member()
    async with client_for(app) as c:
        body = {"channel": "chat", "provider": "webchat", "external_id": "new", "config": {"allowed_origins": [ORIGIN]}}
        r = await c.post("/admin/channels/accounts", json=body, headers=owner.headers())
        assert r.status_code == 200, r.text
        key = r.json()["external_id"]
        assert key.startswith(f"wpk1.{owner.tenant_id}.") and "visitor_secret" in r.json()["secret_hints"]
        assert (await c.post(f"/widget/{key}/sessions", json={}, headers={"Origin": ORIGIN})).status_code == 201
        ig = {"channel": "instagram", "provider": "instagram", "external_id": "178410", "secrets": {"app_secret": "s"}}
        r = await c.post("/admin/channels/accounts", json=ig, headers=owner.headers())
        assert r.json()["webhook_url"].endswith(f"/webhooks/instagram/{owner.tenant_id}")
        assert "s" not in r.json()["secret_hints"].values()
        # Another tenant's admin lists only its own accounts.
        listed = await c.get("/admin/channels/accounts", headers=other.headers())
        assert listed.status_code == 200 and listed.json()["items"] == []
