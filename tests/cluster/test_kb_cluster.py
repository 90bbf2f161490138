"""The knowledge base through the running platform (Ray Serve gateway, Embedder and Searcher
deployments, one Ray task per upload, the sweeper), as ``make run`` starts it: the demo
tenant is loaded with kb-demo in the background at start-up."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from db.pool import tenant_tx

from ..integration.conftest import MakeMember
from ..kb_support import multipage_pdf
from .conftest import Platform

pytestmark = pytest.mark.cluster

KB_DEMO = Path("/work/shared/data/kb-demo")
for _base in (Path.cwd(), Path(__file__).resolve().parents[2]):
    if (_base.parent / "shared" / "data" / "kb-demo").is_dir():
        KB_DEMO = _base.parent / "shared" / "data" / "kb-demo"


async def _uploads_settled(c: httpx.AsyncClient, expected: int, wait_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait_s
    uploads: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        uploads = (await c.get("/rag/uploads")).json()
        if len(uploads) >= expected and all(u["status"] in ("embedded", "failed") for u in uploads):
            return uploads
        await asyncio.sleep(1)
    raise AssertionError(f"uploads not settled after {wait_s}s: {[(u['filename'], u['status']) for u in uploads]}")


async def test_demo_tenant_is_loaded_and_answers_with_document_and_page(platform: Platform) -> None:
    headers = {"Authorization": f"Bearer {platform.token}", "X-Tenant-Id": "demo"}
    docs = sorted(p.name for p in (KB_DEMO / "docs").iterdir())
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=60) as c:
        uploads = await _uploads_settled(c, len(docs), wait_s=300)
        assert sorted(u["filename"] for u in uploads) == docs
        assert [u for u in uploads if u["status"] != "embedded"] == []
        ocr = next(u for u in uploads if u["filename"] == "comunicado-reforma-moema.pdf")
        assert ocr["progress"]["total"] >= 1
        questions = [json.loads(x) for x in (KB_DEMO / "questions.jsonl").read_text().splitlines() if x.strip()]
        checked, missed = 0, []
        for q in questions:
            if q["kind"] not in ("fact", "ocr") or len(q["sources"]) != 1:
                continue
            gold = q["sources"][0]
            r = await c.get("/rag/search", params={"q": q["question"], "k": 6})
            assert r.status_code == 200, r.text
            hits = r.json()
            top = [(h["source"], h["page"]) for h in hits]
            if (Path(gold["file"]).name, gold["page"]) not in top:
                missed.append((q["id"], top))
            checked += 1
        # The right document and page in the top 6 for (nearly) every single-source question.
        assert checked >= 20 and len(missed) <= checked // 10, missed


async def test_upload_progress_events_and_isolation_through_serve(
    platform: Platform, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    async with httpx.AsyncClient(base_url=platform.base_url, headers=m.headers(), timeout=60) as c:
        space = (await c.post("/rag/spaces", json={"name": "loja"})).json()["id"]
        body = (KB_DEMO / "docs" / "politicas.txt").read_bytes()
        r = await c.post(
            "/rag/uploads",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            data={"space_id": space},
            files={"file": ("politicas.txt", body, "text/plain")},
        )
        assert r.status_code == 202, r.text
        upload_id = r.json()["uploadId"]
        events: list[str] = []
        async with c.stream("GET", f"/rag/uploads/{upload_id}/events") as s:
            async for line in s.aiter_lines():
                if line.startswith("event:"):
                    events.append(line.split(":", 1)[1].strip())
        assert events[-1] == "embedded", events
        hits = (await c.get("/rag/search", params={"q": "prazo para reembolso do cancelamento", "k": 6})).json()
        assert hits and {h["source"] for h in hits} == {"politicas.txt"}  # never the demo tenant's copy

        # Sweeper: an upload left queued (a gateway that died before submitting) is picked up.
        async with tenant_tx(app_pool, m.tenant_id) as conn:
            await conn.execute(
                "update kb_uploads set status = 'queued', updated_at = now() - interval '1 hour' where id = $1",
                uuid.UUID(upload_id),
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            up = (await c.get(f"/rag/uploads/{upload_id}")).json()
            if up["status"] == "embedded" and up["attempts"] == 2:
                break
            await asyncio.sleep(1)
        assert up["status"] == "embedded" and up["attempts"] == 2, up
        r = await c.post("/rag/build", json={"space_id": space})
        job_id = r.json()["jobId"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job = (await c.get(f"/rag/jobs/{job_id}")).json()
            if job["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.5)
        assert job["status"] == "done" and job["docs_done"] == 1, job


RAY = str(Path(sys.executable).parent / "ray")
# Ray 2.60 turns token auth on for new local clusters (token in ~/.ray/auth_token); its CLI
# sends the token only when told to.
RAY_CLI_ENV = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_AUTH_MODE": "token"}


async def _settled(c: httpx.AsyncClient, upload_id: str, wait_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        up: dict[str, Any] = (await c.get(f"/rag/uploads/{upload_id}")).json()
        if up["status"] in ("embedded", "failed"):
            return up
        await asyncio.sleep(0.5)
    raise AssertionError(f"upload {upload_id} not settled after {wait_s}s")


async def test_a_large_pdf_is_parsed_in_page_ranges_on_ray_tasks(platform: Platform, make_member: MakeMember) -> None:
    m = await make_member()
    async with httpx.AsyncClient(base_url=platform.base_url, headers=m.headers(), timeout=60) as c:
        r = await c.post("/rag/spaces", json={"name": "manuais"})
        assert r.status_code == 201, r.text
        space = r.json()["id"]
        r = await c.post(
            "/rag/uploads",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            data={"space_id": space},
            files={"file": ("manual.pdf", multipage_pdf(34), "application/pdf")},
        )
        assert r.status_code == 202, r.text
        up = await _settled(c, r.json()["uploadId"])
        assert up["status"] == "embedded", up
        hits = (await c.get("/rag/search", params={"q": "código de referência REF-0033", "k": 8})).json()
        cited = [h for h in hits if "REF-0033" in h["chunk"]]
        assert cited and all(h["page"] == 33 for h in cited), hits
    command = [RAY, "list", "tasks", "--address", platform.dashboard_url, "--format", "json"]
    command += ["--filter", "name=parse_pdf_range_task"]
    proc = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, env=RAY_CLI_ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Pages 1-16 in the upload task; 17-32 and 33-34 as two range tasks (OCR in ranges: unit tests).
    ranges = json.loads(proc.stdout)
    assert len({t["task_id"] for t in ranges}) >= 2 and {t["state"] for t in ranges} == {"FINISHED"}, ranges


async def test_reindex_runs_as_a_ray_job(platform: Platform, make_member: MakeMember) -> None:
    m = await make_member()
    async with httpx.AsyncClient(base_url=platform.base_url, headers=m.headers(), timeout=60) as c:
        r = await c.post("/rag/spaces", json={"name": "avisos"})
        assert r.status_code == 201, r.text
        space = r.json()["id"]
        r = await c.post(
            "/rag/docs",
            json={"space_id": space, "title": "Horários", "body": "# Horários\n\nAbrimos às 6h e fechamos às 23h."},
        )
        assert (await _settled(c, r.json()["uploadId"]))["status"] == "embedded"
        # Exactly as docs/knowledge.md says, with the runtime env `tridium up` wrote.
        command = [RAY, "job", "submit", "--address", platform.dashboard_url]
        command += ["--runtime-env", str(platform.data_dir / "ray-job-env.yaml"), "--"]
        command += ["python", "-m", "knowledge.reindex", "--tenant", m.slug]
        proc = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=180, env=RAY_CLI_ENV
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        assert f"reindexing tenant {m.slug}" in out and "done — 1/1 documents" in out, out[-4000:]
        assert re.search(r"Job 'raysubmit_\w+' succeeded", out), out[-4000:]
        job_id = re.search(r"job ([0-9a-f-]{36}): done", out)
        assert job_id is not None, out[-4000:]
        job = (await c.get(f"/rag/jobs/{job_id.group(1)}")).json()
        assert job["status"] == "done" and job["docs_done"] == 1 and job["chunks_done"] >= 1, job
