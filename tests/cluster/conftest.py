"""ONE real local Ray + Serve per test session, started the way users start it:
``tridium up`` in a subprocess, pointed at the session's Postgres and Redis.

Teardown sends SIGTERM (what ``tridium down`` does) and requires a clean exit: that is the
launcher's start/stop test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.settings import Settings

from ..agents_support import OpenAIScript, OpenAIServer, scripted_completion
from ..conftest import Infra


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Platform:
    base_url: str
    token: str
    log_path: Path
    dashboard_url: str = ""  # Ray's dashboard (job submission, state API)
    data_dir: Path = Path()  # TRIDIUM_DATA_DIR of this platform
    whatsapp_url: str = ""  # the WhatsApp Cloud API sandbox `tridium up` started
    webhooks_url: str = ""  # the webhook listener (ADR 0009), from the banner


@pytest.fixture(scope="session")
def llm_server() -> Iterator[OpenAIServer]:
    """A real local server speaking the OpenAI chat-completions protocol, for the agents'
    OpenAI-compatible path (agents whose settings.model is "openai")."""
    with OpenAIServer(OpenAIScript(scripted_completion)) as server:
        yield server


@pytest.fixture(scope="session")
def platform(
    migrated: Infra, settings: Settings, tmp_path_factory: pytest.TempPathFactory, llm_server: OpenAIServer
) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("platform")
    port = _free_port()
    dashboard_port = _free_port()
    whatsapp_port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRIDIUM_", "RAY_ADDRESS"))},
        "DATABASE_URL": migrated.app_url,
        "DATABASE_OWNER_URL": migrated.owner_url,
        "DATABASE_RELAY_URL": migrated.relay_url,
        "REDIS_URL": migrated.redis_url,
        "TRIDIUM_DATA_DIR": str(data_dir),
        "TRIDIUM_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "TRIDIUM_PORT": str(port),
        "TRIDIUM_RAY_DASHBOARD_PORT": str(dashboard_port),
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000",
        "TRIDIUM_LOG_LEVEL": "WARNING",
        # Channel sandboxes on free ports (several platforms may run on one machine).
        "TRIDIUM_INSTAGRAM_SANDBOX_PORT": str(_free_port()),
        "TRIDIUM_EMAIL_SANDBOX_PORT": str(_free_port()),
        "TRIDIUM_SMTP_SANDBOX_PORT": str(_free_port()),
        # Agents: offline model unless an agent asks for "openai"; short grace and idle times.
        "LLM_BASE_URL": llm_server.base_url,
        "LLM_API_KEY": llm_server.api_key,
        "LLM_MODEL": "test-model",
        "TRIDIUM_AGENT_MODEL_DEFAULT": "offline",
        "TRIDIUM_AGENT_DISCONNECT_GRACE_S": "1.5",
        "TRIDIUM_AGENT_IDLE_S": "8",
        "TRIDIUM_WHATSAPP_SANDBOX_PORT": str(whatsapp_port),
        "TRIDIUM_WEBHOOK_PORT": str(_free_port()),
        "TRIDIUM_INBOX_QUIET_S": "1.0",
        # Ad sandboxes on free ports too (tests/cluster/test_ads_loop_on_serve.py).
        "TRIDIUM_META_ADS_SANDBOX_PORT": str(_free_port()),
        "TRIDIUM_GOOGLE_ADS_SANDBOX_PORT": str(_free_port()),
        "TRIDIUM_TIKTOK_ADS_SANDBOX_PORT": str(_free_port()),
        # No scheduled insights sync or drift repair mid-suite (a Ray task for each of the
        # hundreds of tenants the earlier tiers left in this Postgres, on 2 cores); the ads E2E
        # syncs through POST /admin/ads/sync, and each schedule's body has its own test.
        "TRIDIUM_ADS_SYNC_FIRST_DELAY_S": "86400",
        "TRIDIUM_PAYMENTS_RECONCILE_FIRST_DELAY_S": "86400",
    }
    log_path = data_dir / "up.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tridium.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    token = ""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        text = log_path.read_text()
        if "export TOKEN=" in text:
            token = text.split("export TOKEN=", 1)[1].split()[0]
            break
        if proc.poll() is not None:
            pytest.fail(f"tridium up exited with {proc.returncode}:\n{text[-4000:]}")
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"tridium up did not come up in 180s:\n{log_path.read_text()[-4000:]}")
    try:
        # The launcher provisions the demo channels after the banner: wait for the sandbox line.
        wa_deadline = time.monotonic() + 60
        while "WhatsApp sandbox " not in (text := log_path.read_text()) and time.monotonic() < wa_deadline:
            time.sleep(0.5)
        whatsapp_url = text.split("WhatsApp sandbox ", 1)[1].split()[0] if "WhatsApp sandbox " in text else ""
        webhooks_url = text.split("  Webhooks   ", 1)[1].split()[0] if "  Webhooks   " in text else ""
        yield Platform(
            base_url, token, log_path, f"http://127.0.0.1:{dashboard_port}", data_dir, whatsapp_url, webhooks_url
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("tridium up did not stop within 90s of SIGTERM")
        log.close()
        text = log_path.read_text()
        assert code == 0, f"tridium up exited with {code}:\n{text[-3000:]}"
        assert "Stopped." in text
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base_url}/health", timeout=2)
