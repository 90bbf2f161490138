"""The local Asaas sandbox of ``tridium up`` and the demo tenant's payments setup.

``tridium up`` starts the sandbox server (``tools.asaas.sandbox``, a simulator — never
Asaas) as a child process on ``TRIDIUM_ASAAS_SANDBOX_PORT`` (8090; a free port if that one
is taken), keeping its state in ``.tridium/asaas-sandbox.json``; stops it with the rest.
Then the demo tenant's Asaas integration points at it and its webhook is provisioned to
the gateway's ``/webhooks/asaas``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.pool import create_pool
from db.tenants import get_tenant_by_slug

from .sandboxes import SandboxProcess, port_or_free

log = logging.getLogger("tridium.launcher")


def asaas_sandbox(data_dir: Path, port: int, host: str = "127.0.0.1") -> SandboxProcess:
    """The Asaas sandbox child process (not started); its state lives in the data dir."""
    port = port_or_free("Asaas", host, port)
    url = f"http://{host}:{port}"
    args = ["--host", host, "--port", str(port), "--state", str(data_dir / "asaas-sandbox.json")]
    return SandboxProcess(
        "Asaas",
        "tools.asaas.sandbox",
        [*args, "--log-level", "warning"],
        url + "/",
        data_dir / "asaas-sandbox.log",
        url,
    )


async def setup_demo_payments(settings: Settings, tenant_slug: str, sandbox_url: str, email: str) -> dict[str, Any]:
    """Point the tenant's Asaas integration at the sandbox and provision its webhook."""
    from tools.payments import AsaasAccounts, configure_asaas, provision_webhook

    gateway = settings.webhook_base_url()
    pool = await create_pool(settings.require_database_url(), max_size=2)
    try:
        tenant_id = await get_tenant_by_slug(pool, tenant_slug)
        if tenant_id is None:
            raise SystemExit(f"no tenant {tenant_slug!r}")
        await configure_asaas(pool, tenant_id, base_url=sandbox_url, api_key_ref="sandbox")
        async with httpx.AsyncClient(timeout=10) as http:
            accounts = AsaasAccounts(http, user_agent=settings.asaas_user_agent)
            return await provision_webhook(
                pool, tenant_id, accounts, url=gateway.rstrip("/") + "/webhooks/asaas", email=email
            )
    finally:
        await pool.close()


__all__ = ["asaas_sandbox", "setup_demo_payments"]
