"""The webhook listener (ADR 0009): the gateway app in its own uvicorn process and port,
restricted to ``/webhooks/*`` and ``/health``, started and stopped by the class the Serve
replica uses. Real processes, sockets, Postgres and Redis: a delivery is stored before its
200, a bad one gets the gateway's 4xx, anything outside the webhooks is a 404 naming the
API, replicas share the port, a taken port is a clear start-up error, and a listener whose
supervisor dies does not outlive it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from core.settings import Settings
from db.pool import tenant_tx
from serve.webhooks.listener import ListenerProcess

from ..payments_support import hooked_member as _hooked
from .conftest import MakeMember, Member


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _listener(port: int) -> ListenerProcess:
    # The process reads its settings from the environment: the suite's (tests/conftest.py).
    server = ListenerProcess("127.0.0.1", port)
    await server.start()
    return server


@pytest.fixture
async def listener(settings: Settings) -> AsyncIterator[str]:
    port = _free_port()
    server = await _listener(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


async def _stored(pool: asyncpg.Pool, m: Member) -> list[str]:
    async with tenant_tx(pool, m.tenant_id) as conn:
        rows = await conn.fetch("select event_id from asaas_events where tenant_id = $1", m.tenant_id)
    return [r["event_id"] for r in rows]


async def test_a_delivery_is_stored_before_its_200_and_bad_ones_get_the_gateways_4xx(
    listener: str, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m, token = await _hooked(make_member, app_pool)
    event = {"id": f"evt_{secrets.token_hex(4)}", "event": "PAYMENT_CREATED", "dateCreated": "2026-12-03 17:00:00"}
    body = json.dumps(event).encode()
    async with httpx.AsyncClient(base_url=listener, timeout=10) as c:
        first = await c.post("/webhooks/asaas", content=body, headers={"asaas-access-token": token})
        assert first.status_code == 200, first.text
        assert first.json() == {"received": True, "duplicate": False}
        assert first.headers["x-request-id"]  # the gateway's edge ran
        assert await _stored(app_pool, m) == [event["id"]]
        again = await c.post("/webhooks/asaas", content=body, headers={"asaas-access-token": token})
        assert again.json() == {"received": True, "duplicate": True}

        wrong = await c.post(
            "/webhooks/asaas", content=body.replace(b"evt_", b"evt_x"), headers={"asaas-access-token": "no"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "unauthorized"
        malformed = await c.post("/webhooks/asaas", content=b"{not json", headers={"asaas-access-token": token})
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == "malformed_webhook"
        too_big = await c.post(
            "/webhooks/asaas", content=b"x" * (2 * 1024 * 1024), headers={"asaas-access-token": token}
        )
        assert too_big.status_code == 413
        assert await _stored(app_pool, m) == [event["id"]]  # nothing else stored

        # The channel webhooks are the gateway's FastAPI routes, reachable here too.
        unsigned = await c.post(f"/webhooks/whatsapp/{m.tenant_id}", json={"object": "whatsapp_business_account"})
        assert unsigned.status_code == 401, unsigned.text
        health = await c.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {"postgres": "ok", "redis": "ok", "ray": "not attached"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/leads"), ("POST", "/leads"), ("GET", "/docs"), ("GET", "/")])
async def test_anything_but_webhooks_is_a_404_that_names_the_api(
    listener: str, settings: Settings, method: str, path: str
) -> None:
    async with httpx.AsyncClient(base_url=listener, timeout=10) as c:
        r = await c.request(method, path, headers={"Authorization": "Bearer whatever"})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "not_found"
    assert settings.api_base_url() in error["message"]


async def test_replicas_share_the_port_and_a_stopped_one_leaves_the_other_serving(settings: Settings) -> None:
    port = _free_port()
    a = await _listener(port)
    b = await _listener(port)  # SO_REUSEPORT: a second replica on the same node
    try:
        await a.stop()
        assert not a.running() and b.running()
        async with httpx.AsyncClient(timeout=10) as c:
            for _ in range(5):  # new connections go to the replica still listening
                assert (await c.get(f"http://127.0.0.1:{port}/health")).status_code == 200
    finally:
        await b.stop()


async def test_a_port_taken_by_another_program_is_a_clear_start_up_error(settings: Settings) -> None:
    with socket.socket() as other:  # no SO_REUSEPORT: the port is really someone else's
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError):
            await _listener(port)


async def test_the_listener_process_does_not_outlive_its_supervisor(settings: Settings, tmp_path: Path) -> None:
    """The replica may die by SIGKILL: its listener must not keep the port as an orphan."""
    port = _free_port()
    script = tmp_path / "supervisor.py"
    script.write_text(
        "import asyncio, sys\n"
        "from serve.webhooks.listener import ListenerProcess\n"
        "async def main():\n"
        f"    p = ListenerProcess('127.0.0.1', {port})\n"
        "    await p.start()\n"
        "    print(p._proc.pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    supervisor = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)  # noqa: ASYNC220
    try:
        assert supervisor.stdout is not None
        child = int((await asyncio.to_thread(supervisor.stdout.readline)).strip())
        async with httpx.AsyncClient(timeout=5) as c:
            assert (await c.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        supervisor.kill()  # SIGKILL: no cleanup code runs in the supervisor
        supervisor.wait()
        deadline = time.monotonic() + 20
        while _alive(child) and time.monotonic() < deadline:  # noqa: ASYNC110 — polling another process
            await asyncio.sleep(0.2)
        assert not _alive(child), "the listener outlived its supervisor"
    finally:
        supervisor.kill()
        supervisor.wait()
        if supervisor.stdout is not None:
            supervisor.stdout.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_providers_are_given_the_listener_unless_a_public_url_says_otherwise(settings: Settings) -> None:
    s = settings.model_copy(update={"host": "127.0.0.1", "port": 8000, "webhook_port": 8001})
    assert s.webhook_base_url() == "http://127.0.0.1:8001"
    assert s.model_copy(update={"webhook_port": 0}).webhook_base_url() == "http://127.0.0.1:8000"
    public = s.model_copy(update={"public_base_url": "https://api.loja.com.br/"})
    assert public.webhook_base_url() == "https://api.loja.com.br"
    assert public.api_base_url() == "https://api.loja.com.br"
    hooks = public.model_copy(update={"public_webhook_base_url": "https://hooks.loja.com.br/"})
    assert hooks.webhook_base_url() == "https://hooks.loja.com.br"
