"""The local WhatsApp Cloud API sandbox of ``tridium up`` and the demo tenant's account.

``tridium up`` starts ``tools.channels.whatsapp.sandbox`` (a simulator — never Meta) as a
child process on ``TRIDIUM_WHATSAPP_SANDBOX_PORT`` (8091; a free port if taken), then gives
the demo tenant a WhatsApp account on it (``DEMO_PHONE_NUMBER_ID``) with fresh secrets, and
registers the same account in the sandbox with the gateway's webhook URL, so a message
sent with ``POST /sandbox/inbound`` reaches Luddy and the answer comes back to the sandbox.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.pool import create_pool, tenant_tx
from db.tenants import get_tenant_by_slug

from .sandboxes import SandboxProcess, port_or_free

DEMO_PHONE_NUMBER_ID = "100000000000001"


def whatsapp_sandbox(data_dir: Path, port: int, host: str = "127.0.0.1") -> SandboxProcess:
    """The WhatsApp Cloud API sandbox child process (not started)."""
    port = port_or_free("WhatsApp", host, port)
    url = f"http://{host}:{port}"
    args = ["--host", host, "--port", str(port), "--log-level", "warning"]
    return SandboxProcess(
        "WhatsApp",
        "tools.channels.whatsapp.sandbox",
        args,
        url + "/sandbox/messages",
        data_dir / "whatsapp-sandbox.log",
        url,
    )


async def setup_demo_whatsapp(settings: Settings, tenant_slug: str, sandbox_url: str) -> dict[str, Any]:
    """Provision the demo tenant's WhatsApp account on the sandbox (fresh secrets each start)."""
    from tools.inbox import SecretBox, provision

    gateway = settings.webhook_base_url()
    token, app_secret = "EAAG" + secrets.token_hex(24), secrets.token_hex(16)
    pool = await create_pool(settings.require_database_url(), max_size=2)
    try:
        tenant_id = await get_tenant_by_slug(pool, tenant_slug)
        if tenant_id is None:
            raise SystemExit(f"no tenant {tenant_slug!r}")
        async with tenant_tx(pool, tenant_id) as conn:
            await provision(
                conn,
                tenant_id,
                SecretBox(settings.channel_secrets_key),
                channel="whatsapp",
                provider="whatsapp_cloud",
                external_id=DEMO_PHONE_NUMBER_ID,
                name="Demo (sandbox)",
                base_url=sandbox_url,
                config={"api_version": settings.whatsapp_api_version},
                secrets={"access_token": token, "app_secret": app_secret, "verify_token": secrets.token_hex(8)},
            )
    finally:
        await pool.close()
    webhook_url = f"{gateway}/webhooks/whatsapp/{tenant_id}"
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            sandbox_url + "/sandbox/accounts",
            json={
                "phone_number_id": DEMO_PHONE_NUMBER_ID,
                "access_token": token,
                "app_secret": app_secret,
                "webhook_url": webhook_url,
            },
        )
        r.raise_for_status()
    return {"phone_number_id": DEMO_PHONE_NUMBER_ID, "webhook_url": webhook_url}


__all__ = ["DEMO_PHONE_NUMBER_ID", "whatsapp_sandbox", "setup_demo_whatsapp"]
