"""LGPD data-subject requests through the API, in-process (real Postgres, Redis, MiniLM;
the request runs as an asyncio task of the app, as under plain uvicorn).

One subject ("Mariana Figueiredo Prates") is spread over every kind of row the platform
writes — CRM, an agent run, a payment with its webhook, a knowledge document that names
her, logs, events, the idempotency store and Redis (run stream, query cache, event
stream) and the inbox (a signed WhatsApp webhook processed into a conversation, a staff
note and a staff reply queued for delivery). A second subject in the same tenant and a lead
with the *same e-mail* in another tenant must come out untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI

from core.settings import Settings
from db.pool import tenant_tx
from tools.channels.meta import sign
from tools.inbox.store import process_delivery

from ..agents_support import parse_sse
from ..conftest import Infra
from .conftest import MakeMember, Member, client_for

NAME = "Mariana Figueiredo Prates"
EMAIL = "Mariana.Prates@Example.com"
PHONE = "(11) 98765-4321"
CPF = "529.982.247-25"
# Every way the subject is written somewhere below (the scan looks for each, case-insensitively).
TRACES = [
    NAME,
    "Figueiredo Prates",
    EMAIL,
    "mariana.prates@example.com",
    "98765-4321",
    "11987654321",
    CPF,
    "52998224725",
]

OTHER_NAME = "Bruno Tavares Quintela"
OTHER_EMAIL = "bruno.quintela@example.com"


@dataclass
class World:
    a: Member
    b: Member
    lead: str
    thread: str
    deal: str
    doc: str
    run: str
    other_lead: str
    b_lead: str
    inbox_thread: str
    inbox_lead: str


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def _post(client: httpx.AsyncClient, m: Member, path: str, body: dict[str, Any], status: int = 201) -> Any:
    r = await client.post(path, json=body, headers=m.headers(**_key()))
    assert r.status_code == status, r.text
    return r.json()


async def _wait_upload(client: httpx.AsyncClient, m: Member, upload_id: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        r = await client.get(f"/rag/uploads/{upload_id}", headers=m.headers())
        if r.json()["status"] in ("embedded", "failed"):
            assert r.json()["status"] == "embedded", r.text
            return
        await asyncio.sleep(0.2)
    raise AssertionError("upload not embedded in time")


async def _seed_inbox(client: httpx.AsyncClient, m: Member, pool: asyncpg.Pool) -> tuple[str, str]:
    """She writes on WhatsApp: a signed Cloud API webhook (the body the WhatsApp sandbox
    sends, tools/channels/whatsapp/sandbox) accepted by the gateway, then processed the way
    the InboxWorker processes ``inbox.received`` (tools.inbox.store.process_delivery);
    staff take the conversation, write a note and reply (an outbound delivery, queued: no
    worker sends it in this tier). Returns the inbox thread's id and its lead's (the inbox
    matches leads by the exact E.164 number, so it creates a second lead for her)."""
    phone_id, app_secret = str(10**14 + uuid.uuid4().int % 10**14), uuid.uuid4().hex
    r = await client.post(
        "/admin/channels/accounts",
        json={
            "channel": "whatsapp",
            "provider": "whatsapp_cloud",
            "external_id": phone_id,
            "name": "Academia",
            "base_url": "http://127.0.0.1:9",  # never called: nothing is sent in this tier
            "secrets": {"access_token": "EAAG" + uuid.uuid4().hex, "app_secret": app_secret, "verify_token": "v"},
        },
        headers=m.headers(),
    )
    assert r.status_code == 200, r.text
    wamid = "wamid.priv" + uuid.uuid4().hex
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": phone_id},
        "contacts": [{"profile": {"name": NAME}, "wa_id": "5511987654321"}],
        "messages": [
            {
                "from": "5511987654321",
                "id": wamid,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": f"Oi, é a {NAME}; meu e-mail é {EMAIL.lower()}"},
            }
        ],
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    body = json.dumps(envelope).encode()
    r = await client.post(
        f"/webhooks/whatsapp/{m.tenant_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)},
    )
    assert r.status_code == 200, r.text
    async with tenant_tx(pool, m.tenant_id) as conn:
        delivery = await conn.fetchval("select id from inbound_deliveries where provider_message_id = $1", wamid)
        stored = await process_delivery(conn, m.tenant_id, delivery)
    assert stored.thread_id is not None
    tid = str(stored.thread_id)
    async with tenant_tx(pool, m.tenant_id) as conn:
        lead_id = str(await conn.fetchval("select lead_id from threads where id = $1", stored.thread_id))
    r = await client.post(f"/inbox/conversations/{tid}/take", headers=m.headers())
    assert r.status_code == 200, r.text
    await _post(client, m, f"/inbox/conversations/{tid}/notes", {"body": f"{NAME} pediu desconto; CPF {CPF}"})
    await _post(client, m, f"/inbox/conversations/{tid}/reply", {"text": f"Olá, {NAME}! Já verifico."}, status=202)
    return tid, lead_id


async def _seed_sql(pool: asyncpg.Pool, m: Member, w: dict[str, str], settings: Settings, rc: redis.Redis) -> None:
    """Rows the API writes through provider flows (payments) or internals (logs, ledgers)."""
    async with tenant_tx(pool, m.tenant_id) as conn:
        invoice = await conn.fetchval(
            """insert into invoices (tenant_id, external_id, deal_id, lead_id, method, amount_cents, status, url,
                                     meta, customer_id, due_date)
               values ($1, 'pay_priv_1', $2, $3, 'pix', 19900, 'RECEIVED', 'https://sandbox.asaas.com/i/priv1',
                       $4, 'cus_priv_1', current_date) returning id""",
            m.tenant_id,
            uuid.UUID(w["deal"]),
            uuid.UUID(w["lead"]),
            {"customer_name": NAME, "note": "plano anual"},
        )
        payment = {
            "object": "payment",
            "id": "pay_priv_1",
            "customer": "cus_priv_1",
            "value": 199.0,
            "netValue": 195.0,
            "billingType": "PIX",
            "status": "RECEIVED",
            "dueDate": "2026-12-01",
            "description": f"Plano anual de {NAME}",
            "invoiceUrl": "https://sandbox.asaas.com/i/priv1",
        }
        await conn.execute(
            """insert into payments (tenant_id, invoice_id, status, raw, external_id, value_cents, paid_at)
               values ($1, $2, 'RECEIVED', $3, 'pay_priv_1', 19900, now())""",
            m.tenant_id,
            invoice,
            payment,
        )
        await conn.execute(
            """insert into asaas_events (tenant_id, event_id, event_type, payload, payment_id)
               values ($1, 'evt_priv_1', 'PAYMENT_RECEIVED', $2, 'pay_priv_1')""",
            m.tenant_id,
            {"id": "evt_priv_1", "event": "PAYMENT_RECEIVED", "payment": payment},
        )
        await conn.execute(
            """insert into tool_invocations (tenant_id, agent, tool, idempotency_key, run_id, args, result)
               values ($1, 'luddy', 'upsert_lead', $2, $3, $4, '{"ok": true}')""",
            m.tenant_id,
            f"priv-{uuid.uuid4()}",
            uuid.UUID(w["run"]),
            {"name": NAME, "email": EMAIL.lower()},
        )
        await conn.execute(
            "insert into error_logs (tenant_id, source, code, message) values ($1, 'whatsapp', 'send_failed', $2)",
            m.tenant_id,
            f"could not deliver to {PHONE}",
        )
        await conn.execute(
            """insert into audit_logs (tenant_id, actor, action, target, meta)
               values ($1, 'user-x', 'lead.viewed', $2, $3)""",
            m.tenant_id,
            f"lead:{w['lead']}",
            {"shown": f"{NAME} <{EMAIL.lower()}>"},
        )
        await conn.execute(
            """insert into agent_messages (tenant_id, from_agent, to_agent, kind, body)
               values ($1, 'luddy', 'lucy', 'tell', $2)""",
            m.tenant_id,
            {"text": f"{NAME} fechou o plano anual; CPF {CPF}"},
        )
        await conn.execute(
            """insert into creatives (tenant_id, name, audience, angle, meta)
               values ($1, 'Depoimento', 'alunos', 'prova', $2)""",
            m.tenant_id,
            {"quote": f"“Adorei!” — {NAME}"},
        )
        event = await conn.fetchrow(
            """insert into event_log (tenant_id, type, payload) values ($1, 'lead.contacted', $2)
               returning id, tenant_id, type, payload, created_at, request_id""",
            m.tenant_id,
            {"lead_id": w["lead"], "email": EMAIL.lower()},
        )
    # What the outbox relay would have published for that event (the relay is off in this tier).
    from core.events import Event

    assert event is not None
    await rc.xadd(settings.events_stream, Event(**dict(event)).to_stream_fields())


@pytest.fixture(scope="module")
async def world(
    app: FastAPI, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings, redis_client: redis.Redis
) -> World:
    a, b = await make_member(), await make_member()
    async with client_for(app) as c:
        lead = await _post(c, a, "/leads", {"name": NAME, "email": EMAIL, "phone": PHONE, "meta": {"cpf": CPF}})
        thread = await _post(
            c, a, "/threads", {"channel": "whatsapp", "external_id": "5511987654321", "lead_id": lead["id"]}
        )
        await _post(
            c,
            a,
            "/messages",
            {"thread_id": thread["id"], "direction": "in", "sender": NAME, "body": f"Meu CPF é {CPF}, e-mail {EMAIL}"},
        )
        deal = await _post(
            c, a, "/deals", {"lead_id": lead["id"], "title": f"Plano anual {NAME}", "value_cents": 19900}
        )
        space = await _post(c, a, "/rag/spaces", {"name": "casos"})
        doc = await _post(
            c,
            a,
            "/rag/docs",
            {
                "space_id": space["id"],
                "title": "Casos de sucesso",
                "body": (
                    "# Casos de sucesso\n\nA academia atende alunos desde 2010 com planos mensais e anuais.\n\n"
                    f"## Depoimento\n\n{NAME} emagreceu 12 kg no plano anual; contato {EMAIL.lower()}, "
                    f"telefone {PHONE}.\n\n"
                    "## Horários\n\nA unidade Pinheiros abre das 6h às 23h de segunda a sábado."
                ),
            },
            status=202,
        )
        await _wait_upload(c, a, doc["uploadId"])
        # A search by her name: leaves a query embedding in the Redis cache.
        assert (await c.get("/rag/search", params={"q": NAME}, headers=a.headers())).status_code == 200
        r = await c.post(
            "/agents/run",
            json={
                "agent": "luddy",
                "input": f"Olá, aqui é {NAME}, qual o horário da unidade?",
                "thread_id": thread["id"],
            },
            headers=a.headers(),
        )
        assert r.status_code == 200, r.text
        run_id = next(e.data for e in parse_sse(r.text) if e.event == "run.started")["run_id"]
        other = await _post(c, a, "/leads", {"name": OTHER_NAME, "email": OTHER_EMAIL, "phone": "+55 21 99123-4567"})
        b_lead = await _post(c, b, "/leads", {"name": NAME, "email": EMAIL, "phone": PHONE})
        inbox_thread, inbox_lead = await _seed_inbox(c, a, app_pool)
    w = {"lead": lead["id"], "deal": deal["id"], "run": run_id}
    await _seed_sql(app_pool, a, w, settings, redis_client)
    return World(
        a,
        b,
        lead["id"],
        thread["id"],
        deal["id"],
        doc["id"],
        run_id,
        other["id"],
        b_lead["id"],
        inbox_thread,
        inbox_lead,
    )


async def _request(
    client: httpx.AsyncClient, m: Member, kind: str, subject: dict[str, str], key: str | None = None
) -> httpx.Response:
    return await client.post(
        "/privacy/requests",
        json={"kind": kind, "subject": subject},
        headers=m.headers(**{"Idempotency-Key": key or str(uuid.uuid4())}),
    )


async def _finished(client: httpx.AsyncClient, m: Member, request_id: str, wait_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        r = await client.get(f"/privacy/requests/{request_id}", headers=m.headers())
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        seen.append(body["progress"]["done"])
        if body["status"] in ("done", "failed"):
            assert body["status"] == "done", body["error"]
            assert body["progress"]["done"] == body["progress"]["total"] > 0
            assert seen == sorted(seen), f"progress went backwards: {seen}"
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"privacy request {request_id} not finished in {wait_s}s")


async def _traces_in_sql(superuser_url: str, tenant_id: uuid.UUID, traces: list[str]) -> list[str]:
    """Every text/JSON/bytea column of every tenant table, scanned as superuser (no RLS)."""
    conn = await asyncpg.connect(superuser_url)
    try:
        cols = await conn.fetch(
            """select c.table_name, c.column_name, c.data_type from information_schema.columns c
               join information_schema.tables t using (table_schema, table_name)
               where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
                 and c.data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'tsvector', 'bytea')
                 and exists (select 1 from information_schema.columns k where k.table_schema = 'public'
                             and k.table_name = c.table_name and k.column_name = 'tenant_id')"""
        )
        hits = []
        for col in cols:
            table, column = col["table_name"], col["column_name"]
            # bytea (stored response bytes): its ASCII text as is, other bytes as escapes
            expr = f"encode(\"{column}\", 'escape')" if col["data_type"] == "bytea" else f'"{column}"::text'
            for trace in traces:
                n = await conn.fetchval(
                    f"select count(*) from {table} where tenant_id = $1 and {expr} ilike $2",
                    tenant_id,
                    f"%{trace}%",
                )
                if n:
                    hits.append(f"{table}.{column} ~ {trace!r} ({n})")
        return hits
    finally:
        await conn.close()


async def _traces_in_redis(rc: redis.Redis, tenant_id: uuid.UUID, traces: list[str]) -> list[str]:
    hits = []
    needles = [t.lower().encode() for t in traces]
    async for raw in rc.scan_iter(count=500):
        key = raw.decode()
        kind = (await rc.type(key)).decode()
        if kind == "stream":
            blob = repr(await rc.xrange(key)).encode().lower()
        elif kind == "string":
            blob = (await rc.get(key) or b"").lower()
        elif kind == "hash":
            blob = repr(await rc.hgetall(key)).encode().lower()
        elif kind == "list":
            blob = repr(await rc.lrange(key, 0, -1)).encode().lower()
        else:
            blob = b""
        if str(tenant_id).encode() in (key.encode() + blob):
            hits.extend(f"{key} ~ {n.decode()!r}" for n in needles if n in blob or n in key.lower().encode())
    return hits


# Export -------------------------------------------------------------------------------------


async def test_export_bundles_every_table_where_the_subject_appears(
    client: httpx.AsyncClient, world: World, redis_client: redis.Redis
) -> None:
    r = await _request(client, world.a, "export", {"email": EMAIL})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.json()["identifier_kinds"] == ["email"]
    assert EMAIL.lower() not in r.text.lower(), "the identifiers are not echoed back"
    done = await _finished(client, world.a, r.json()["id"])
    bundle = done["result"]
    tables = bundle["tables"]
    expected = {
        "leads",
        "threads",
        "messages",
        "deals",
        "agent_runs",
        "tool_invocations",
        "invoices",
        "payments",
        "asaas_events",
        "kb_docs",
        "kb_vectors",
        "event_log",
        "audit_logs",
        "error_logs",
        "agent_messages",
        "creatives",
        "idempotency_keys",
        "inbound_deliveries",
        "outbound_deliveries",
        "thread_notes",
    }
    assert expected <= set(tables), sorted(expected - set(tables))
    # Her leads (the one the inbox created from her WhatsApp number too: the phone on her
    # first lead finds it), not the other subject's.
    her_leads = {world.lead, world.inbox_lead}
    assert {lead["id"] for lead in tables["leads"]} == her_leads, "only her leads, not the other subject's"
    first = next(lead for lead in tables["leads"] if lead["id"] == world.lead)
    assert first["email"].lower() == EMAIL.lower() and first["meta"] == {"cpf": CPF}
    assert any(CPF in m["body"] for m in tables["messages"])
    assert {p["external_id"] for p in tables["payments"]} == {"pay_priv_1"}
    assert any(NAME in v["chunk"] for v in tables["kb_vectors"]) and all(
        "embedding" not in v for v in tables["kb_vectors"]
    )
    assert world.run in {run["id"] for run in tables["agent_runs"]}
    # The inbox: her WhatsApp conversation, the raw delivery, the staff note and the reply.
    assert world.inbox_thread in {t["id"] for t in tables["threads"]}
    assert any(d["item"]["contact"]["value"] == "+5511987654321" for d in tables["inbound_deliveries"])
    assert [o["recipient"] for o in tables["outbound_deliveries"]] and all(
        o["thread_id"] == world.inbox_thread for o in tables["outbound_deliveries"]
    )
    assert [n["body"] for n in tables["thread_notes"]] == [f"{NAME} pediu desconto; CPF {CPF}"]
    streams = bundle["redis"]["run_streams"]
    assert any(world.run in s["key"] for s in streams), "the run's event stream is exported"
    assert bundle["redis"]["event_streams"], "the published copy of the event is exported"
    assert OTHER_NAME not in json.dumps(bundle) and OTHER_EMAIL not in json.dumps(bundle)
    # Found by CPF (on the lead's meta) or by phone in another format: the same person.
    by_cpf = await _finished(
        client, world.a, (await _request(client, world.a, "export", {"cpf": "52998224725"})).json()["id"]
    )
    by_phone = await _finished(
        client, world.a, (await _request(client, world.a, "export", {"phone": "+55 11 98765 4321"})).json()["id"]
    )
    for other in (by_cpf, by_phone):
        assert {lead["id"] for lead in other["result"]["tables"]["leads"]} == her_leads
        assert set(other["result"]["tables"]) == set(tables)


# Erase --------------------------------------------------------------------------------------


async def test_erase_leaves_nothing_about_the_subject_anywhere(
    client: httpx.AsyncClient,
    world: World,
    migrated: Infra,
    redis_client: redis.Redis,
    app_pool: asyncpg.Pool,
) -> None:
    a = world.a
    before = await _traces_in_sql(migrated.superuser_url, a.tenant_id, TRACES)
    assert len(before) > 15, before  # the scan itself finds her everywhere before the erase
    for where in ("inbound_deliveries.item", "thread_notes.body", "outbound_deliveries.content"):
        assert any(hit.startswith(where) for hit in before), (where, before)
    assert any(hit.startswith("idempotency_keys.response_bytes") for hit in before), "stored response bytes"
    assert await _traces_in_redis(redis_client, a.tenant_id, TRACES), "the Redis scan finds her before"
    b_before = await _traces_in_sql(migrated.superuser_url, world.b.tenant_id, TRACES)
    assert b_before, "tenant B has a lead with the same e-mail"

    r = await _request(client, a, "erase", {"cpf": CPF})
    assert r.status_code == 202, r.text
    done = await _finished(client, a, r.json()["id"])
    result = done["result"]
    assert result["noop"] is False

    # SQL: no trace of her in any tenant table of tenant A.
    assert await _traces_in_sql(migrated.superuser_url, a.tenant_id, TRACES) == []
    # Redis: run stream gone, query cache gone, published event gone.
    assert await _traces_in_redis(redis_client, a.tenant_id, TRACES) == []
    assert not await redis_client.exists(f"tridium:agents:run:{a.tenant_id}:{world.run}")
    qkeys = [k async for k in redis_client.scan_iter(match=f"kb:{a.tenant_id}:qemb:*")]
    assert not [k for k in qkeys if k.decode().endswith(hashlib.sha256(NAME.encode()).hexdigest())]
    # Search: her name, e-mail and CPF find nothing naming her; the document still answers.
    for q in (NAME, EMAIL.lower(), CPF, "Figueiredo"):
        hits = (await client.get("/rag/search", params={"q": q}, headers=a.headers())).json()
        assert not [h for h in hits if any(t.lower() in h["chunk"].lower() for t in TRACES)], (q, hits)
    hours = (await client.get("/rag/search", params={"q": "horário unidade Pinheiros"}, headers=a.headers())).json()
    assert any("Pinheiros" in h["chunk"] for h in hours), "the rest of the document is still searchable"
    async with tenant_tx(app_pool, a.tenant_id) as conn:
        vectors = await conn.fetch(
            "select chunk from kb_vectors where doc_id = $1 order by chunk_index", uuid.UUID(world.doc)
        )
        lead = await conn.fetchrow(
            "select name, email, phone, meta, source from leads where id = $1", uuid.UUID(world.lead)
        )
        threads = await conn.fetchval("select count(*) from threads where lead_id = $1", uuid.UUID(world.lead))
        inbox_left = {
            t: await conn.fetchval(f"select count(*) from {t}")
            for t in ("inbound_deliveries", "outbound_deliveries", "thread_notes")
        }
        inbox_thread = await conn.fetchval("select count(*) from threads where id = $1", uuid.UUID(world.inbox_thread))
        payment = await conn.fetchrow("select value_cents, paid_at, raw from payments where external_id = 'pay_priv_1'")
        invoice = await conn.fetchrow(
            "select amount_cents, customer_id, url from invoices where external_id = 'pay_priv_1'"
        )
        deal = await conn.fetchrow("select title, value_cents from deals where id = $1", uuid.UUID(world.deal))
        run = await conn.fetchrow(
            "select input, output, tokens_in, latency_ms from agent_runs where id = $1", uuid.UUID(world.run)
        )
        other = await conn.fetchrow("select name, email from leads where id = $1", uuid.UUID(world.other_lead))
        audit = await conn.fetch(
            "select actor, action, meta from audit_logs where target = $1 order by created_at",
            f"privacy_request:{done['id']}",
        )
        stored = await conn.fetchrow(
            "select subject, subject_hashes from privacy_requests where id = $1", uuid.UUID(done["id"])
        )
    assert vectors and any("[removido]" in v["chunk"] for v in vectors)
    # Anonymised, kept for aggregates; deleted conversations; payments kept for tax with reasons.
    assert lead is not None and (lead["email"], lead["phone"], lead["meta"]) == (None, None, {})
    assert threads == 0
    # Her inbox conversation, its raw webhook item, the reply sent to her and staff's note: gone.
    assert inbox_thread == 0 and inbox_left == dict.fromkeys(inbox_left, 0), inbox_left
    assert payment is not None and payment["value_cents"] == 19900 and payment["paid_at"] is not None
    assert payment["raw"]["value"] == 199.0 and "description" not in payment["raw"]
    assert invoice is not None and (invoice["amount_cents"], invoice["customer_id"], invoice["url"]) == (
        19900,
        "cus_priv_1",
        None,
    )
    assert deal is not None and deal["value_cents"] == 19900 and deal["title"] == ""
    assert run is not None and run["input"] == "" and run["output"] is None and run["latency_ms"] is not None
    kept = {k["table"] for k in result["kept"]}
    assert {"invoices", "payments", "asaas_events"} <= kept
    assert all(
        "Art. 16" in k["reason"] for k in result["kept"] if k["table"] in ("invoices", "payments", "asaas_events")
    )
    # The other subject and the other tenant are untouched.
    assert other is not None and (other["name"], other["email"]) == (OTHER_NAME, OTHER_EMAIL)
    assert await _traces_in_sql(migrated.superuser_url, world.b.tenant_id, TRACES) == b_before
    b_lead = (await client.get(f"/leads/{world.b_lead}", headers=world.b.headers())).json()
    assert (b_lead["name"], b_lead["email"].lower()) == (NAME, EMAIL.lower())
    # Audited (who and when) without the identifiers; the request keeps only their HMACs.
    assert [(x["actor"], x["action"]) for x in audit] == [
        (a.user_id, "privacy.erase.requested"),
        ("system:privacy", "privacy.erase.done"),
    ]
    assert audit[0]["meta"] == {"kind": "erase", "identifier_kinds": ["cpf"]}
    assert stored is not None and stored["subject"] is None and len(stored["subject_hashes"]) == 1
    assert CPF not in json.dumps(done) and "52998224725" not in json.dumps(done)

    # The same erase again changes nothing.
    again = await _finished(client, a, (await _request(client, a, "erase", {"cpf": CPF})).json()["id"])
    assert again["result"]["noop"] is True, again["result"]
    assert all(s["deleted"] == s["anonymised"] == s["redacted"] == 0 for s in again["result"]["tables"])
    # The earlier export bundles of her were deleted by the erase.
    listed = (await client.get("/privacy/requests", headers=a.headers())).json()["items"]
    assert {x["kind"] for x in listed} == {"erase"}, listed


# Bad input, roles, tenants ------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        {"email": "not-an-email"},
        {"phone": "12"},
        {"phone": "+55 11 8765-43210"},
        {"phone": "abc-def-ghij"},
        {"cpf": "529.982.247-24"},
        {"cpf": "111.111.111-11"},
        {"cpf": "1234"},
        {},
    ],
)
async def test_bad_identifiers_are_422(
    client: httpx.AsyncClient, make_member: MakeMember, subject: dict[str, str]
) -> None:
    m = await make_member(role="admin")
    r = await _request(client, m, "erase", subject)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_failed"
    listed = (await client.get("/privacy/requests", headers=m.headers())).json()["items"]
    assert listed == [], "nothing was queued"


async def test_bad_kind_and_extra_fields_are_422(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member(role="owner")
    for body in (
        {"kind": "delete", "subject": {"email": "a@example.com"}},
        {"kind": "export", "subject": {"email": "a@example.com", "name": "A"}},
        {"kind": "export"},
    ):
        r = await client.post("/privacy/requests", json=body, headers=m.headers(**_key()))
        assert r.status_code == 422, r.text


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_non_admins_are_403(client: httpx.AsyncClient, make_member: MakeMember, role: str) -> None:
    m = await make_member(role=role)
    r = await _request(client, m, "export", {"email": "a@example.com"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert (await client.get("/privacy/requests", headers=m.headers())).status_code == 403
    assert (await client.get(f"/privacy/requests/{uuid.uuid4()}", headers=m.headers())).status_code == 403


async def test_other_tenant_and_unknown_ids_are_404(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    a, b = await make_member(), await make_member()
    r = await _request(client, a, "export", {"email": "nobody.here@example.com"})
    rid = r.json()["id"]
    await _finished(client, a, rid)
    for m, path in ((b, f"/privacy/requests/{rid}"), (a, f"/privacy/requests/{uuid.uuid4()}")):
        got = await client.get(path, headers=m.headers())
        assert got.status_code == 404, got.text
        assert got.json()["error"]["code"] == "not_found"
    assert (await client.get("/privacy/requests/not-a-uuid", headers=a.headers())).status_code == 422
    assert (await client.get("/privacy/requests", headers=b.headers())).json()["items"] == []
    # A's token naming B's tenant is refused before anything runs.
    h = {"Authorization": f"Bearer {a.token}", "X-Tenant-Id": b.slug, **_key()}
    r = await client.post("/privacy/requests", json={"kind": "erase", "subject": {"email": "x@example.com"}}, headers=h)
    assert r.status_code == 403, r.text


async def test_idempotency_key_replays_and_is_required(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    key = str(uuid.uuid4())
    first = await _request(client, m, "export", {"email": "replay@example.com"}, key=key)
    second = await _request(client, m, "export", {"email": "replay@example.com"}, key=key)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"] and second.headers["Idempotent-Replayed"] == "true"
    other_body = await _request(client, m, "export", {"email": "other@example.com"}, key=key)
    assert other_body.status_code == 422 and other_body.json()["error"]["code"] == "idempotency_key_mismatch"
    missing = await client.post(
        "/privacy/requests", json={"kind": "export", "subject": {"email": "a@example.com"}}, headers=m.headers()
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_missing"
    await _finished(client, m, first.json()["id"])
    items = (await client.get("/privacy/requests", headers=m.headers())).json()["items"]
    assert [x["id"] for x in items] == [first.json()["id"]]
