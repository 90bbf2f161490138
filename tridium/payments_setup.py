"""The local Asaas sandbox of ``tridium up`` and the demo tenant's payments setup.

``tridium up`` starts the sandbox server (``tools.asaas.sandbox``, a simulator — never
Asaas) as a child process on ``TRIDIUM_ASAAS_SANDBOX_PORT`` (8090; a free port if that one
is taken), keeping its state in ``.tridium/asaas-sandbox.json``; stops it with the rest.
Then the demo tenant's Asaas integration points at it and its webhook is provisioned to
the gateway's ``/webhooks/asaas``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.pool import create_pool
from db.tenants import get_tenant_by_slug

log = logging.getLogger("tridium.launcher")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class AsaasSandboxProcess:
    """The sandbox as a child process; ``stop()`` is called by the launcher's shutdown."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port if _port_free(host, port) else _free_port(host)
        if self.port != port:
            print(f"warning: port {port} is taken; the Asaas sandbox uses {self.port}", file=sys.stderr)
        self.state_path = data_dir / "asaas-sandbox.json"
        self.log_path = data_dir / "asaas-sandbox.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.asaas.sandbox",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--state",
                str(self.state_path),
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
                raise SystemExit(f"the Asaas sandbox exited with {self._proc.returncode}; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"the Asaas sandbox did not start in {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)


async def setup_demo_payments(settings: Settings, tenant_slug: str, sandbox_url: str, email: str) -> dict[str, Any]:
    """Point the tenant's Asaas integration at the sandbox and provision its webhook."""
    from tools.payments import AsaasAccounts, configure_asaas, provision_webhook

    gateway = settings.public_base_url or f"http://{settings.host}:{settings.port}"
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


__all__ = ["AsaasSandboxProcess", "setup_demo_payments"]
