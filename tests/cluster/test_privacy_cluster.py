"""An LGPD erase through the running platform: the request runs as a Ray task
(``privacy_request_task``) and re-embeds the masked document through the Embedder
deployment."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from db.pool import tenant_tx

from ..integration.conftest import MakeMember
from .conftest import Platform
from .test_kb_cluster import RAY, RAY_CLI_ENV, _settled

pytestmark = pytest.mark.cluster

NAME = "Heloísa Barros Antunes"
EMAIL = "heloisa.antunes@example.com"


async def _finished(c: httpx.AsyncClient, rid: str, wait_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await c.get(f"/privacy/requests/{rid}")).json()
        if body["status"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.5)
    raise AssertionError(f"privacy request {rid} not finished after {wait_s}s")


async def test_erase_runs_as_a_ray_task_and_reembeds_the_document(
    platform: Platform, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    async with httpx.AsyncClient(base_url=platform.base_url, headers=m.headers(), timeout=60) as c:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        lead = (await c.post("/leads", json={"name": NAME, "email": EMAIL}, headers=key)).json()
        space = (await c.post("/rag/spaces", json={"name": "depoimentos"})).json()["id"]
        body = f"# Depoimentos\n\n{NAME} ({EMAIL}) treina conosco desde 2021.\n\n## Horários\n\nAbrimos às 6h."
        r = await c.post("/rag/docs", json={"space_id": space, "title": "Depoimentos", "body": body})
        assert (await _settled(c, r.json()["uploadId"]))["status"] == "embedded"
        r = await c.post(
            "/privacy/requests",
            json={"kind": "erase", "subject": {"email": EMAIL}},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 202, r.text
        done = await _finished(c, r.json()["id"])
        assert done["status"] == "done", done["error"]
        assert done["result"]["search"]["docs_reindexed"] == 1, done["result"]["search"]
        hits = (await c.get("/rag/search", params={"q": NAME})).json()
        assert not [h for h in hits if "Antunes" in h["chunk"] or EMAIL in h["chunk"]], hits
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        row = await conn.fetchrow("select name, email from leads where id = $1", uuid.UUID(lead["id"]))
        left = await conn.fetchval("select count(*) from kb_vectors where chunk ilike '%Antunes%'")
    assert row is not None and row["email"] is None and left == 0
    command = [RAY, "list", "tasks", "--address", platform.dashboard_url, "--format", "json"]
    command += ["--filter", "name=privacy_request_task"]
    proc = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=RAY_CLI_ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks = json.loads(proc.stdout)
    assert tasks and {t["state"] for t in tasks} == {"FINISHED"}, tasks
