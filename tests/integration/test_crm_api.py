"""CRM routes through the real gateway app, real Postgres and Redis."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from .conftest import MakeMember


async def test_health_reports_dependencies(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert "ts" in body


async def test_create_and_list_leads_with_filters(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    for i, (stage, source) in enumerate([("new", "instagram"), ("qualified", "whatsapp"), ("new", "whatsapp")]):
        r = await client.post(
            "/leads",
            json={"name": f"Maria {i}", "email": f"maria{i}@example.com", "stage": stage, "source": source},
            headers=m.headers(**{"Idempotency-Key": str(uuid.uuid4())}),
        )
        assert r.status_code == 201, r.text
    r = await client.get("/leads", params={"source": "whatsapp"}, headers=m.headers())
    assert r.status_code == 200
    assert {lead["name"] for lead in r.json()["items"]} == {"Maria 1", "Maria 2"}
    r = await client.get("/leads", params={"stage": "qualified"}, headers=m.headers())
    assert [lead["name"] for lead in r.json()["items"]] == ["Maria 1"]
    r = await client.get("/leads", params={"q": "maria0@"}, headers=m.headers())
    assert [lead["name"] for lead in r.json()["items"]] == ["Maria 0"]


async def test_pagination_walks_every_lead_once(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    for i in range(7):
        r = await client.post("/leads", json={"name": f"L{i}"}, headers=m.headers(**{"Idempotency-Key": f"k-{i}"}))
        assert r.status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/leads", params=params, headers=m.headers())).json()
        seen += [lead["name"] for lead in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"L{i}" for i in range(7)]
    assert seen[0] == "L6"  # newest first


async def test_threads_messages_deals_and_win(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    lead = (
        await client.post("/leads", json={"name": "Ana"}, headers=m.headers(**{"Idempotency-Key": "lead-ana"}))
    ).json()
    thread = await client.post(
        "/threads",
        json={"channel": "whatsapp", "external_id": "5511999990000", "lead_id": lead["id"]},
        headers=m.headers(),
    )
    assert thread.status_code == 201, thread.text
    dup = await client.post(
        "/threads", json={"channel": "whatsapp", "external_id": "5511999990000"}, headers=m.headers()
    )
    assert dup.status_code == 409
    msg = await client.post(
        "/messages",
        json={"thread_id": thread.json()["id"], "direction": "in", "sender": "Ana", "body": "Oi, quero um orçamento"},
        headers=m.headers(),
    )
    assert msg.status_code == 201, msg.text
    listed = await client.get("/messages", params={"channel": "whatsapp"}, headers=m.headers())
    assert [x["body"] for x in listed.json()["items"]] == ["Oi, quero um orçamento"]
    none = await client.get("/messages", params={"channel": "email"}, headers=m.headers())
    assert none.json()["items"] == []
    deal = await client.post("/deals", json={"lead_id": lead["id"], "value_cents": 19900}, headers=m.headers())
    assert deal.status_code == 201
    won = await client.post(f"/deals/{deal.json()['id']}/win", headers=m.headers(**{"Idempotency-Key": "win-1"}))
    assert won.status_code == 200, won.text
    assert won.json()["stage"] == "won"
    lead_after = await client.get(f"/leads/{lead['id']}", headers=m.headers())
    assert lead_after.json()["stage"] == "customer"


async def test_deal_won_event_written_once(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: object
) -> None:
    from db.pool import tenant_tx

    m = await make_member()
    lead = (await client.post("/leads", json={"name": "B"}, headers=m.headers(**{"Idempotency-Key": "b"}))).json()
    deal = (await client.post("/deals", json={"lead_id": lead["id"]}, headers=m.headers())).json()
    results = await asyncio.gather(
        *[client.post(f"/deals/{deal['id']}/win", headers=m.headers(**{"Idempotency-Key": f"w{i}"})) for i in range(5)]
    )
    assert all(r.status_code == 200 for r in results)
    async with tenant_tx(app_pool, m.tenant_id) as conn:  # type: ignore[arg-type]
        n = await conn.fetchval(
            "select count(*) from event_log where tenant_id = $1 and type = 'deal.won'", m.tenant_id
        )
    assert n == 1
