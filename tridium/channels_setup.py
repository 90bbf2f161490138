"""Local channel sandboxes for ``tridium up``: Instagram and e-mail (simulators, never the
real providers), and the demo tenant's Instagram, e-mail and web chat accounts on them.

Each sandbox is a child process (``python -m tools.channels.<x>.sandbox``) stopped with the
rest; its webhooks go to the gateway's per-tenant URLs. See docs/inbox.md for curl lines.
"""

from __future__ import annotations

import secrets
import socket
import sys
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.pool import create_pool, tenant_tx
from db.tenants import get_tenant_by_slug

from .sandboxes import SandboxProcess

INSTAGRAM_ACCOUNT = "17841400000000001"  # the sandbox's default account id
INSTAGRAM_TOKEN = "IGAA-sandbox-token"
INSTAGRAM_APP_SECRET = "sandbox-app-secret"
MAILGUN_KEY = "sandbox-mailgun-signing-key"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def channel_sandboxes(settings: Settings, data_dir: Path, host: str = "127.0.0.1") -> list[SandboxProcess]:
    """The Instagram and e-mail sandboxes (not started); ports that are taken are skipped."""
    out = []
    for port in (settings.instagram_sandbox_port, settings.email_sandbox_port, settings.smtp_sandbox_port):
        if not _port_free(host, port):
            print(f"warning: port {port} is taken; channel sandboxes not started", file=sys.stderr)
            return []
    out.append(
        SandboxProcess(
            "Instagram",
            "tools.channels.instagram.sandbox",
            ["--host", host, "--port", str(settings.instagram_sandbox_port)],
            f"http://{host}:{settings.instagram_sandbox_port}/",
            data_dir / "instagram-sandbox.log",
        )
    )
    out.append(
        SandboxProcess(
            "e-mail",
            "tools.channels.email.sandbox",
            [
                "--host",
                host,
                "--port",
                str(settings.email_sandbox_port),
                "--smtp-port",
                str(settings.smtp_sandbox_port),
            ],
            f"http://{host}:{settings.email_sandbox_port}/",
            data_dir / "email-sandbox.log",
        )
    )
    return out


async def setup_demo_channels(settings: Settings, tenant_slug: str, host: str = "127.0.0.1") -> dict[str, Any]:
    """Give the demo tenant Instagram, e-mail and web chat accounts on the sandboxes and
    point the sandboxes' webhooks at the webhook listener. Returns what to print."""
    from tools.channels.webchat import new_publishable_key
    from tools.inbox import SecretBox, list_accounts, provision

    gateway = settings.webhook_base_url()
    box = SecretBox(settings.channel_secrets_key)
    pool = await create_pool(settings.require_database_url(), max_size=2)
    try:
        tenant_id = await get_tenant_by_slug(pool, tenant_slug)
        if tenant_id is None:
            raise SystemExit(f"no tenant {tenant_slug!r}")
        inbox_address = f"{tenant_slug}@inbox.sandbox.test"
        async with tenant_tx(pool, tenant_id) as conn:
            await provision(
                conn, tenant_id, box, channel="instagram", provider="instagram", external_id=INSTAGRAM_ACCOUNT,
                name="Instagram (sandbox)", base_url=f"http://{host}:{settings.instagram_sandbox_port}", config={},
                secrets={"access_token": INSTAGRAM_TOKEN, "app_secret": INSTAGRAM_APP_SECRET,
                         "verify_token": secrets.token_urlsafe(16)},
            )  # fmt: skip
            await provision(
                conn, tenant_id, box, channel="email", provider="mailgun", external_id=inbox_address,
                name="E-mail (sandbox)", base_url=None,
                config={"smtp_host": host, "smtp_port": settings.smtp_sandbox_port, "from_name": "Luddy"},
                secrets={"signing_key": MAILGUN_KEY},
            )  # fmt: skip
            chats = [a for a in await list_accounts(conn, tenant_id, "chat") if a["provider"] == "webchat"]
            key = chats[0]["external_id"] if chats else new_publishable_key(tenant_id)
            await provision(
                conn, tenant_id, box, channel="chat", provider="webchat", external_id=key, name="Site widget",
                base_url=None, config={"allowed_origins": ["http://localhost:3000"]},
                secrets={} if chats else {"visitor_secret": secrets.token_urlsafe(32)},
            )  # fmt: skip
    finally:
        await pool.close()
    async with httpx.AsyncClient(timeout=5) as http:
        await http.post(
            f"http://{host}:{settings.instagram_sandbox_port}/sandbox/webhook-target",
            json={"url": f"{gateway}/webhooks/instagram/{tenant_id}"},
        )
        await http.post(
            f"http://{host}:{settings.email_sandbox_port}/sandbox/webhook-target",
            json={"url": f"{gateway}/webhooks/email/mailgun/{tenant_id}/mime", "recipient": inbox_address},
        )
    return {"tenant_id": str(tenant_id), "widget_key": key, "inbox_address": inbox_address}


__all__ = ["channel_sandboxes", "setup_demo_channels"]
