"""The local WhatsApp Cloud API sandbox of ``tridium up`` and the demo tenant's account.

``tridium up`` starts ``tools.channels.whatsapp.sandbox`` (a simulator — never Meta) as a
child process on ``TRIDIUM_WHATSAPP_SANDBOX_PORT`` (8091; a free port if taken), then gives
the demo tenant a WhatsApp account on it (``DEMO_PHONE_NUMBER_ID``) with fresh secrets, and
registers the same account in the sandbox with the gateway's webhook URL, so a message
sent with ``POST /sandbox/inbound`` reaches Luddy and the answer comes back to the sandbox.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.pool import create_pool, tenant_tx
from db.tenants import get_tenant_by_slug

from .payments_setup import _free_port, _port_free

DEMO_PHONE_NUMBER_ID = "100000000000001"


class WhatsAppSandboxProcess:
    """The sandbox as a child process; ``stop()`` is called by the launcher's shutdown."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port if _port_free(host, port) else _free_port(host)
        if self.port != port:
            print(f"warning: port {port} is taken; the WhatsApp sandbox uses {self.port}", file=sys.stderr)
        self.log_path = data_dir / "whatsapp-sandbox.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.channels.whatsapp.sandbox",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SystemExit(f"the WhatsApp sandbox exited with {self._proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/sandbox/messages", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"the WhatsApp sandbox did not start in {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)


async def setup_demo_whatsapp(settings: Settings, tenant_slug: str, sandbox_url: str) -> dict[str, Any]:
    """Provision the demo tenant's WhatsApp account on the sandbox (fresh secrets each start)."""
    from tools.inbox import SecretBox, provision

    gateway = (settings.public_base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
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


__all__ = ["DEMO_PHONE_NUMBER_ID", "WhatsAppSandboxProcess", "setup_demo_whatsapp"]
