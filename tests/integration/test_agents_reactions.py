"""Agents reacting to business events and messaging each other, in-process (LocalRuntime: the
classes the actors run), real Postgres and Redis: ``payment.overdue`` → Luddy writes once to
the lead's conversation with the facts of the event (a conversation handed over to a human
gets nothing); ``ask_agent`` → one agent asks another through the runtime and gets its answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from actors import HostDeps, LocalRuntime
from actors.dispatcher import ROUTES, AgentDispatcher
from core.errors import Forbidden, NotFound
from core.events import Event
from core.settings import Settings
from db.pool import tenant_tx

from .conftest import Member


async def _no_search(*_a: Any) -> list[Any]:
    return []


@pytest.fixture
async def dispatcher(settings: Settings, app_pool: asyncpg.Pool, redis_client: redis.Redis) -> Any:
    rt = LocalRuntime(HostDeps(settings, app_pool, redis_client, _no_search))
    yield AgentDispatcher(app_pool, redis_client, settings.events_stream, rt)
    await rt.close()


async def _lead_with_thread(client: httpx.AsyncClient, m: Member) -> tuple[str, str]:
    h = m.headers()
    lead = await client.post("/leads", json={"name": "Ana"}, headers=h | {"Idempotency-Key": str(uuid.uuid4())})
    assert lead.status_code == 201, lead.text
    thread = await client.post(
        "/threads",
        json={"lead_id": lead.json()["id"], "channel": "whatsapp", "external_id": uuid.uuid4().hex},
        headers=h,
    )
    assert thread.status_code == 201, thread.text
    return lead.json()["id"], thread.json()["id"]


def _overdue(m: Member, lead_id: str, thread_id: str) -> Event:
    payload = {
        "intent_id": str(uuid.uuid4()),
        "payment_id": "pay_123",
        "lead_id": lead_id,
        "deal_id": None,
        "amount_cents": 14990,
        "method": "boleto",
        "thread_id": thread_id,
        "due_date": "2026-11-20",
        "invoice_url": "https://sandbox.asaas.com/i/abc123",
        "asaas_dunning": False,
    }
    return Event(
        id=uuid.uuid4(), tenant_id=m.tenant_id, type="payment.overdue", payload=payload, created_at=datetime.now(UTC)
    )


async def _messages(pool: asyncpg.Pool, m: Member, thread_id: str) -> list[asyncpg.Record]:
    async with tenant_tx(pool, m.tenant_id) as conn:
        return await conn.fetch(
            "select body, meta, sender from messages where tenant_id = $1 and thread_id = $2",
            m.tenant_id,
            uuid.UUID(thread_id),
        )


def test_only_luddy_follows_up_on_an_overdue_payment() -> None:
    assert ROUTES["payment.overdue"] == ("luddy",)
    assert set(ROUTES["deal.won"]) == {"luddy", "lucy", "clio"}


async def test_overdue_payment_gets_one_grounded_followup_on_the_leads_thread(
    client: httpx.AsyncClient, make_member: Any, app_pool: asyncpg.Pool, dispatcher: AgentDispatcher
) -> None:
    m = await make_member()
    lead_id, thread_id = await _lead_with_thread(client, m)
    event = _overdue(m, lead_id, thread_id)
    async with app_pool.acquire() as conn:
        await dispatcher.handle(conn, event)
        await dispatcher.handle(conn, event)  # redelivered: no second message
    rows = await _messages(app_pool, m, thread_id)
    assert len(rows) == 1, rows
    body = rows[0]["body"]
    assert "R$ 149,90" in body and "boleto" in body and "20/11/2026" in body
    assert "https://sandbox.asaas.com/i/abc123" in body
    assert rows[0]["sender"] == "luddy" and rows[0]["meta"]["reason"] == "payment_overdue"
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        done = await conn.fetch(
            "select to_agent, status from agent_messages where tenant_id = $1 and event_id = $2",
            m.tenant_id,
            event.id,
        )
    assert [(r["to_agent"], r["status"]) for r in done] == [("luddy", "done")]


async def test_no_automatic_dunning_message_on_a_thread_handed_over_to_a_human(
    client: httpx.AsyncClient, make_member: Any, app_pool: asyncpg.Pool, dispatcher: AgentDispatcher
) -> None:
    m = await make_member()
    lead_id, thread_id = await _lead_with_thread(client, m)
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        await conn.execute(
            "update threads set status = 'pending_human' where tenant_id = $1 and id = $2",
            m.tenant_id,
            uuid.UUID(thread_id),
        )
    async with app_pool.acquire() as conn:
        await dispatcher.handle(conn, _overdue(m, lead_id, thread_id))
    assert await _messages(app_pool, m, thread_id) == []


async def test_overdue_payment_of_another_tenants_lead_sends_nothing(
    client: httpx.AsyncClient, make_member: Any, app_pool: asyncpg.Pool, dispatcher: AgentDispatcher
) -> None:
    a, b = await make_member(), await make_member()
    lead_id, thread_id = await _lead_with_thread(client, a)
    forged = _overdue(b, lead_id, thread_id)  # tenant B's event naming tenant A's lead and thread
    async with app_pool.acquire() as conn:
        with pytest.raises(NotFound):  # B's RLS hides A's thread: not acked, nothing sent
            await dispatcher.handle(conn, forged)
    assert await _messages(app_pool, a, thread_id) == []


# Agents asking each other (ask/tell through the runtime) ------------------------------------


async def test_luddy_asks_lucy_and_gets_her_answer(
    client: httpx.AsyncClient, make_member: Any, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    await _lead_with_thread(client, m)  # one lead from "unknown" source, so Lucy has a number to report
    r = await client.post(
        "/agents/tools/ask_agent/invoke",
        json={"agent": "luddy", "args": {"agent": "lucy", "question": "Quantos leads por origem nos últimos 30 dias?"}},
        headers=m.headers(),
    )
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["agent"] == "lucy" and result["status"] == "completed", result
    assert result["answer"] and "lead" in result["answer"].lower(), result
    async with tenant_tx(app_pool, m.tenant_id) as conn:
        msgs = await conn.fetch(
            "select from_agent, to_agent, kind, status, reply from agent_messages where tenant_id = $1", m.tenant_id
        )
        run = await conn.fetchrow(
            """select a.name as agent, r.output from agent_runs r join agents a on a.tenant_id = r.tenant_id
               and a.id = r.agent_id where r.tenant_id = $1 and r.id = $2""",
            m.tenant_id,
            uuid.UUID(result["run_id"]),
        )
    assert [(x["from_agent"], x["to_agent"], x["kind"], x["status"]) for x in msgs] == [
        ("luddy", "lucy", "ask", "done")
    ]
    assert run is not None and run["agent"] == "lucy" and run["output"] == result["answer"]


async def test_ask_agent_refuses_itself_a_tell_returns_at_once_and_bad_args(
    client: httpx.AsyncClient, make_member: Any
) -> None:
    m = await make_member()
    url = "/agents/tools/ask_agent/invoke"
    own = await client.post(
        url, json={"agent": "lucy", "args": {"agent": "lucy", "question": "oi"}}, headers=m.headers()
    )
    assert own.status_code == 422, own.text
    for args in ({"agent": "bob", "question": "oi"}, {"agent": "clio", "question": ""}, {"agent": "clio"}):
        bad = await client.post(url, json={"agent": "lucy", "args": args}, headers=m.headers())
        assert bad.status_code == 422, (args, bad.text)
    tell = await client.post(
        url,
        json={
            "agent": "lucy",
            "args": {"agent": "clio", "question": "Crie criativos para alunos novos", "wait": False},
        },
        headers=m.headers(),
    )
    assert tell.status_code == 200, tell.text
    assert tell.json()["result"]["accepted"] is True and tell.json()["result"]["run_id"]


async def test_agent_to_agent_hops_are_bounded(
    settings: Settings, app_pool: asyncpg.Pool, redis_client: redis.Redis, make_member: Any
) -> None:
    from actors.tools import MAX_ASK_DEPTH, ToolContext, execute

    m = await make_member()
    rt = LocalRuntime(HostDeps(settings, app_pool, redis_client, _no_search))
    ctx = ToolContext(
        tenant_id=m.tenant_id, agent="lucy", pool=app_pool, search=_no_search, peers=rt, ask_depth=MAX_ASK_DEPTH
    )
    with pytest.raises(Forbidden):
        await execute(ctx, "ask_agent", {"agent": "clio", "question": "oi"}, allowed=frozenset({"ask_agent"}))
    await rt.close()
