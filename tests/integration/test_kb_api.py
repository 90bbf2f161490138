"""Knowledge base through the HTTP API, in-process (real Postgres, Redis, parser sandbox and
MiniLM; ingestion runs as an asyncio task of the app, as under plain uvicorn)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from core.settings import Settings
from db.pool import tenant_tx
from tools.storage.sandbox import DEFAULT_SERVICE_KEY, StorageSandboxConfig, running_storage_sandbox

from .conftest import MakeMember, Member, client_for, running_app

DEMO = Path(__file__).resolve().parents[3] / "shared" / "data" / "kb-demo" / "docs"
if not DEMO.is_dir():
    DEMO = Path("/work/shared/data/kb-demo/docs")


async def _fetch(pool: asyncpg.Pool, m: Member, sql: str, *args: Any) -> list[asyncpg.Record]:
    async with tenant_tx(pool, m.tenant_id) as conn:
        return list(await conn.fetch(sql, *args))


async def _space(client: httpx.AsyncClient, m: Member, name: str = "main", pii: bool = False) -> str:
    r = await client.post("/rag/spaces", json={"name": name, "pii_masking": pii}, headers=m.headers())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _upload(
    client: httpx.AsyncClient, m: Member, space: str, name: str, data: bytes, key: str | None = None
) -> httpx.Response:
    return await client.post(
        "/rag/uploads",
        headers=m.headers(**{"Idempotency-Key": key or uuid.uuid4().hex}),
        data={"space_id": space},
        files={"file": (name, data, "application/octet-stream")},
    )


async def _wait(client: httpx.AsyncClient, m: Member, upload_id: str, wait_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        r = await client.get(f"/rag/uploads/{upload_id}", headers=m.headers())
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] in ("embedded", "failed"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"upload {upload_id} still {body['status']} after {wait_s}s")


@pytest.fixture(scope="module")
async def kb(make_member: MakeMember, app: FastAPI) -> dict[str, Any]:
    """Tenant A with four demo documents embedded (PDF, HTML, text, DOCX with PII masking)."""
    m = await make_member()
    async with client_for(app) as client:
        space = await _space(client, m)
        masked = await _space(client, m, "masked", pii=True)
        ids = {}
        for name, target in (
            ("tabela-precos-2025.pdf", space),
            ("faq.html", space),
            ("politicas.txt", space),
            ("cases-clientes.docx", masked),
        ):
            r = await _upload(client, m, target, name, (DEMO / name).read_bytes())
            assert r.status_code == 202, r.text
            ids[name] = r.json()["uploadId"]
        done = {name: await _wait(client, m, uid) for name, uid in ids.items()}
    return {"member": m, "space": space, "masked": masked, "uploads": done}


async def test_each_format_is_embedded_with_progress(kb: dict[str, Any]) -> None:
    for name, up in kb["uploads"].items():
        assert up["status"] == "embedded", (name, up)
        assert up["progress"]["total"] > 0 and up["progress"]["done"] == up["progress"]["total"], up
        assert up["doc_id"] is not None
    assert kb["uploads"]["tabela-precos-2025.pdf"]["kind"] == "pdf"
    assert kb["uploads"]["cases-clientes.docx"]["kind"] == "docx"


async def test_search_returns_sources_with_page_numbers(client: httpx.AsyncClient, kb: dict[str, Any]) -> None:
    m = kb["member"]
    r = await client.get(
        "/rag/search", params={"q": "quanto custa a diária avulsa do personal trainer?", "k": 6}, headers=m.headers()
    )
    assert r.status_code == 200, r.text
    hits = r.json()
    assert len(hits) == 6
    assert {"docId", "chunk", "score", "source", "title", "page", "chunkId"} <= set(hits[0])
    pdf_hits = [h for h in hits if h["source"] == "tabela-precos-2025.pdf"]
    assert pdf_hits and all(h["page"] in (1, 2, 3) for h in pdf_hits)
    r = await client.get("/rag/search", params={"q": "horário da unidade Pinheiros", "k": 3}, headers=m.headers())
    assert r.json()[0]["source"] == "faq.html", r.json()
    # Accent-insensitive full text: "politica de cancelamento" finds "política" / "cancelamento".
    r = await client.get("/rag/search", params={"q": "politica de cancelamento multa", "k": 3}, headers=m.headers())
    assert r.json()[0]["source"] == "politicas.txt", r.json()


async def test_space_filter_and_pii_masking(
    client: httpx.AsyncClient, kb: dict[str, Any], app_pool: asyncpg.Pool
) -> None:
    m = kb["member"]
    r = await client.get(
        "/rag/search",
        params={"q": "Construtora Ipê Roxo adesão", "k": 8, "space_id": kb["masked"]},
        headers=m.headers(),
    )
    hits = r.json()
    assert hits and all(h["source"] == "cases-clientes.docx" for h in hits)
    pii = [json.loads(line) for line in (DEMO.parent / "pii.jsonl").read_text().splitlines() if line.strip()]
    values = [p["value"] for p in pii if p["file"] == "docs/cases-clientes.docx" and p["kind"] in ("cpf", "cnpj")]
    doc_id = kb["uploads"]["cases-clientes.docx"]["doc_id"]
    stored = await _fetch(app_pool, m, "select chunk from kb_vectors where doc_id = $1", uuid.UUID(doc_id))
    body = await _fetch(app_pool, m, "select body from kb_docs where id = $1", uuid.UUID(doc_id))
    text = body[0]["body"] + "\n".join(r["chunk"] for r in stored)
    assert values and not [v for v in values if v in text]
    assert "[CPF]" in text


async def test_tenant_b_never_sees_tenant_a(
    client: httpx.AsyncClient, kb: dict[str, Any], make_member: MakeMember
) -> None:
    b = await make_member()
    space = await _space(client, b)
    r = await client.post(
        "/rag/docs",
        json={
            "space_id": space,
            "title": "Loja B",
            "body": "# Loja B\n\nVendemos bicicletas. O plano anual custa R$ 10.",
            "source": "b.md",
        },
        headers=b.headers(),
    )
    assert r.status_code == 202, r.text
    await _wait(client, b, r.json()["uploadId"])
    r = await client.get(
        "/rag/search", params={"q": "plano anual preço personal Pinheiros", "k": 8}, headers=b.headers()
    )
    hits = r.json()
    assert hits and {h["source"] for h in hits} == {"b.md"}
    # A's space id is not B's: 404, not an empty list that leaks nothing... and no rows.
    r = await client.get("/rag/search", params={"q": "plano", "space_id": kb["space"]}, headers=b.headers())
    assert r.status_code == 200 and r.json() == []
    r = await client.get(f"/rag/uploads/{kb['uploads']['faq.html']['id']}", headers=b.headers())
    assert r.status_code == 404


async def test_idempotent_reingest_and_key_replay(
    client: httpx.AsyncClient, app: FastAPI, kb: dict[str, Any], app_pool: asyncpg.Pool
) -> None:
    m = kb["member"]
    data = (DEMO / "promocoes-do-mes.md").read_bytes()
    first = await _upload(client, m, kb["space"], "promocoes-do-mes.md", data, key="promo-1")
    again = await _upload(client, m, kb["space"], "promocoes-do-mes.md", data, key="promo-1")
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["uploadId"] == again.json()["uploadId"]
    up = await _wait(client, m, first.json()["uploadId"])
    doc = uuid.UUID(up["doc_id"])
    q = "select chunk_index, content_hash from kb_vectors where doc_id = $1 order by 1"
    before = await _fetch(app_pool, m, q, doc)
    # Run the same upload again, as a retry or the sweeper would.
    await _fetch(app_pool, m, "update kb_uploads set status = 'queued' where id = $1", uuid.UUID(up["id"]))
    outcome = await app.state.knowledge.ingestor.ingest_upload(m.tenant_id, uuid.UUID(up["id"]))
    assert outcome == "embedded"
    after = await _fetch(app_pool, m, q, doc)
    assert [tuple(r) for r in after] == [tuple(r) for r in before] and len(before) > 0
    docs = await _fetch(app_pool, m, "select count(*) as n from kb_docs where upload_id = $1", uuid.UUID(up["id"]))
    assert docs[0]["n"] == 1


async def test_delete_removes_document_and_vectors(
    client: httpx.AsyncClient, kb: dict[str, Any], app_pool: asyncpg.Pool
) -> None:
    m = kb["member"]
    r = await client.post(
        "/rag/docs",
        json={"space_id": kb["space"], "title": "Temporário", "body": "Aulas de xadrez gigante no terraço às quintas."},
        headers=m.headers(),
    )
    doc_id = r.json()["id"]
    await _wait(client, m, r.json()["uploadId"])
    hits = (await client.get("/rag/search", params={"q": "xadrez gigante", "k": 2}, headers=m.headers())).json()
    assert hits[0]["docId"] == doc_id
    count = "select count(*) as n from kb_vectors where doc_id = $1"
    assert (await _fetch(app_pool, m, count, uuid.UUID(doc_id)))[0]["n"] > 0
    r = await client.delete(f"/rag/docs/{doc_id}", headers=m.headers())
    assert r.status_code == 204
    assert (await _fetch(app_pool, m, count, uuid.UUID(doc_id)))[0]["n"] == 0
    hits = (await client.get("/rag/search", params={"q": "xadrez gigante", "k": 8}, headers=m.headers())).json()
    assert doc_id not in {h["docId"] for h in hits}
    assert (await client.delete(f"/rag/docs/{doc_id}", headers=m.headers())).status_code == 404


async def test_build_job_reindexes(client: httpx.AsyncClient, kb: dict[str, Any]) -> None:
    m = kb["member"]
    r = await client.post("/rag/build", json={"space_id": kb["masked"]}, headers=m.headers())
    assert r.status_code == 202, r.text
    job_id = r.json()["jobId"]
    for _ in range(300):
        job = (await client.get(f"/rag/jobs/{job_id}", headers=m.headers())).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done", job
    assert job["docs_total"] == job["docs_done"] == 1 and job["chunks_done"] > 0


async def test_upload_events_stream_ends_with_embedded(client: httpx.AsyncClient, kb: dict[str, Any]) -> None:
    m = kb["member"]
    r = await _upload(client, m, kb["space"], "brand-book.md", (DEMO / "brand-book.md").read_bytes())
    events = []
    async with client.stream("GET", f"/rag/uploads/{r.json()['uploadId']}/events", headers=m.headers()) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        async for line in s.aiter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events[-1] == "embedded" and "progress" in events


# Bad input: clear 4xx, or `failed` with a reason; the app keeps serving. -------------------


def _zip_bomb_docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b"A" * 300_000_000 + b"</w:document>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("empty.pdf", b"", 415),
        ("image.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 415),
        ("binary.txt", bytes(range(256)) * 8, 415),
    ],
)
async def test_refused_uploads(
    client: httpx.AsyncClient, kb: dict[str, Any], name: str, data: bytes, status: int
) -> None:
    r = await _upload(client, kb["member"], kb["space"], name, data)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"


async def test_hostile_files_fail_with_a_reason(client: httpx.AsyncClient, kb: dict[str, Any]) -> None:
    m = kb["member"]
    pdf = (DEMO / "tabela-precos-2025.pdf").read_bytes()
    cases = {
        "truncated.pdf": pdf[: len(pdf) // 3],
        "bomb.docx": _zip_bomb_docx(),
        "notes.txt": pdf,  # wrong extension: parsed as what it is
    }
    ids = {}
    for name, data in cases.items():
        r = await _upload(client, m, kb["space"], name, data)
        assert r.status_code == 202, r.text
        ids[name] = r.json()["uploadId"]
    results = {name: await _wait(client, m, uid) for name, uid in ids.items()}
    assert results["notes.txt"]["status"] == "embedded" and results["notes.txt"]["kind"] == "pdf"
    for name in ("truncated.pdf", "bomb.docx"):
        assert results[name]["status"] == "failed", results[name]
        assert results[name]["error"] and len(results[name]["error"]) > 10, results[name]
    assert (await client.get("/health/live")).status_code in (200, 404)
    assert (await client.get("/rag/spaces", headers=m.headers())).status_code == 200


async def test_oversized_upload_is_413_before_buffering(settings: Settings, make_member: MakeMember) -> None:
    small = settings.model_copy(update={"kb_upload_max_bytes": 10_000})
    m = await make_member()
    async for app in running_app(small):
        async with client_for(app) as client:
            space = await _space(client, m)
            r = await _upload(client, m, space, "big.txt", b"a " * 20_000)
            assert r.status_code == 413, r.text
            assert r.json()["error"]["code"] == "payload_too_large"


async def test_uploads_go_to_supabase_storage_under_the_tenant(
    settings: Settings, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    """TRIDIUM_KB_STORAGE=supabase against the Supabase Storage sandbox (real HTTP)."""
    m = await make_member()
    pdf = (DEMO / "tabela-precos-2025.pdf").read_bytes()
    async with running_storage_sandbox(StorageSandboxConfig(buckets=("kb-test",))) as storage:
        remote = settings.model_copy(
            update={
                "kb_storage": "supabase",
                "supabase_url": storage.base_url,
                "supabase_service_key": SecretStr(DEFAULT_SERVICE_KEY),
                "kb_bucket": "kb-test",
            }
        )
        async for app in running_app(remote):
            async with client_for(app) as client:
                space = await _space(client, m)
                r = await _upload(client, m, space, "tabela.pdf", pdf)
                assert r.status_code == 202, r.text
                up = await _wait(client, m, r.json()["uploadId"])
                assert up["status"] == "embedded" and up["kind"] == "pdf", up
                objects = storage.sandbox.store.objects
                assert list(objects) == [("kb-test", f"{m.tenant_id}/{up['id']}/source")]
                assert storage.sandbox.store.read("kb-test", f"{m.tenant_id}/{up['id']}/source") == pdf
                r = await client.delete(f"/rag/docs/{up['doc_id']}", headers=m.headers())
                assert r.status_code == 204
                assert objects == {}
    assert not (settings.data_dir.absolute() / "storage" / "kb-test").exists()


async def test_upload_needs_idempotency_key_and_a_known_space(client: httpx.AsyncClient, kb: dict[str, Any]) -> None:
    m = kb["member"]
    r = await client.post(
        "/rag/uploads", headers=m.headers(), data={"space_id": kb["space"]}, files={"file": ("a.md", b"# A\n\ntexto")}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "idempotency_key_missing"
    r = await _upload(client, m, str(uuid.uuid4()), "a.md", b"# A\n\ntexto")
    assert r.status_code == 404
