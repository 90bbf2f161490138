"""Idempotency-Key semantics through the API (IETF draft; test matrix F9): one execution
per key, replays of the stored response, 409 while in flight, 422 on reuse with another
request, 400 when missing, keys scoped per tenant and principal, stale locks taken over,
failed handlers release their key."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx

from core.settings import Settings
from db.pool import tenant_tx
from db.tenants import upsert_membership
from serve.auth import mint_token

from .conftest import MakeMember, Member


def _key() -> str:
    return str(uuid.uuid4())


async def _count_leads(pool: asyncpg.Pool, m: Member, name: str) -> int:
    async with tenant_tx(pool, m.tenant_id) as conn:
        n: int = await conn.fetchval("select count(*) from leads where tenant_id = $1 and name = $2", m.tenant_id, name)
    return n


async def _key_rows(pool: asyncpg.Pool, m: Member, key: str) -> list[dict[str, Any]]:
    async with tenant_tx(pool, m.tenant_id) as conn:
        rows = await conn.fetch(
            "select principal, status, response_code from idempotency_keys where tenant_id = $1 and key = $2",
            m.tenant_id,
            key,
        )
    return [dict(r) for r in rows]


def _assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body


async def test_parallel_same_key_creates_one_lead(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    key, name = _key(), f"Parallel {uuid.uuid4().hex[:6]}"
    results = await asyncio.gather(
        *[client.post("/leads", json={"name": name}, headers=m.headers(**{"Idempotency-Key": key})) for _ in range(20)]
    )
    statuses = [r.status_code for r in results]
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in results if r.status_code == 201]
    assert created, "no request succeeded"
    assert len({r.json()["id"] for r in created}) == 1, "different leads returned for one key"
    fresh = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1, "exactly one request executes; every other 201 is a replay"
    assert all(r.headers["idempotent-replayed"] == "true" for r in created if r is not fresh[0])
    for r in results:
        if r.status_code == 409:
            _assert_error(r, 409, "idempotency_key_in_flight")
    assert await _count_leads(app_pool, m, name) == 1
    # Once done, every retry replays the same response.
    again = await client.post("/leads", json={"name": name}, headers=m.headers(**{"Idempotency-Key": key}))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == fresh[0].json()
    assert await _count_leads(app_pool, m, name) == 1


async def test_same_key_with_other_body_or_path_is_a_mismatch(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    key = _key()
    first = await client.post("/leads", json={"name": "Ana"}, headers=m.headers(**{"Idempotency-Key": key}))
    assert first.status_code == 201
    other = await client.post("/leads", json={"name": "Bia"}, headers=m.headers(**{"Idempotency-Key": key}))
    _assert_error(other, 422, "idempotency_key_mismatch")
    deal = (await client.post("/deals", json={"lead_id": first.json()["id"]}, headers=m.headers())).json()
    win = await client.post(f"/deals/{deal['id']}/win", headers=m.headers(**{"Idempotency-Key": key}))
    _assert_error(win, 422, "idempotency_key_mismatch")
    assert await _count_leads(app_pool, m, "Bia") == 0
    listed = (await client.get("/deals", headers=m.headers())).json()["items"]
    assert [d["stage"] for d in listed] == ["open"]


async def test_missing_or_blank_key_is_rejected(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    r = await client.post("/leads", json={"name": "NoKey"}, headers=m.headers())
    _assert_error(r, 400, "idempotency_key_missing")
    r = await client.post("/leads", json={"name": "NoKey"}, headers=m.headers(**{"Idempotency-Key": "   "}))
    _assert_error(r, 400, "idempotency_key_missing")
    assert await _count_leads(app_pool, m, "NoKey") == 0


async def test_same_json_with_other_whitespace_and_key_order_replays(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    key = _key()
    headers = m.headers(**{"Idempotency-Key": key, "Content-Type": "application/json"})
    first = await client.post("/leads", content=b'{"name":"Caio","score":7}', headers=headers)
    assert first.status_code == 201, first.text
    second = await client.post("/leads", content=b'{\n  "score": 7,\n  "name": "Caio"\n}\n', headers=headers)
    assert second.status_code == 201, second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert await _count_leads(app_pool, m, "Caio") == 1


async def test_keys_are_scoped_per_principal_and_tenant(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    m = await make_member()
    colleague_id = str(uuid.uuid4())
    await upsert_membership(app_pool, m.tenant_id, colleague_id, None, "member")
    colleague = Member(m.tenant_id, m.slug, colleague_id, mint_token(settings, user_id=colleague_id))
    stranger = await make_member()
    key, body = "shared-key-0001", {"name": "Dani"}
    responses = [
        await client.post("/leads", json=body, headers=who.headers(**{"Idempotency-Key": key}))
        for who in (m, colleague, stranger)
    ]
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert all("idempotent-replayed" not in r.headers for r in responses), "a key leaked across principals"
    assert len({r.json()["id"] for r in responses}) == 3
    assert await _count_leads(app_pool, m, "Dani") == 2
    assert await _count_leads(app_pool, stranger, "Dani") == 1
    # The colleague's retry replays the colleague's lead, not the first member's.
    retry = await client.post("/leads", json=body, headers=colleague.headers(**{"Idempotency-Key": key}))
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json()["id"] == responses[1].json()["id"]


async def test_key_length_limit(client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool) -> None:
    m = await make_member()
    r = await client.post("/leads", json={"name": "Long"}, headers=m.headers(**{"Idempotency-Key": "k" * 256}))
    _assert_error(r, 422, "validation_failed")
    assert await _count_leads(app_pool, m, "Long") == 0
    r = await client.post("/leads", json={"name": "Long"}, headers=m.headers(**{"Idempotency-Key": "k" * 255}))
    assert r.status_code == 201, r.text


async def _as_owner(owner_pool: asyncpg.Pool, m: Member, sql: str, *args: Any) -> str:
    """The owner is under FORCE RLS too: it needs the tenant context like anyone."""
    async with owner_pool.acquire() as conn, conn.transaction():
        await conn.execute("select set_config('app.tenant_id', $1, true)", str(m.tenant_id))
        status: str = await conn.execute(sql, *args)
    return status


async def test_stale_in_flight_key_is_taken_over(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    key, body = _key(), {"name": "Crash"}
    headers = m.headers(**{"Idempotency-Key": key})
    first = await client.post("/leads", json=body, headers=headers)
    assert first.status_code == 201
    # Simulate a replica that died after taking the key, before its business write committed.
    await _as_owner(owner_pool, m, "delete from leads where id = $1", uuid.UUID(first.json()["id"]))
    status = await _as_owner(
        owner_pool,
        m,
        """update idempotency_keys set status = 'in_flight', response_code = null, response_body = null,
           locked_at = now() where key = $1""",
        key,
    )
    assert status == "UPDATE 1"
    busy = await client.post("/leads", json=body, headers=headers)
    _assert_error(busy, 409, "idempotency_key_in_flight")
    assert busy.headers.get("retry-after") == "1"
    await _as_owner(
        owner_pool, m, "update idempotency_keys set locked_at = now() - interval '1 hour' where key = $1", key
    )
    taken = await client.post("/leads", json=body, headers=headers)
    assert taken.status_code == 201, taken.text
    assert "idempotent-replayed" not in taken.headers
    assert await _count_leads(app_pool, m, "Crash") == 1
    assert [r["status"] for r in await _key_rows(app_pool, m, key)] == ["done"]
    replay = await client.post("/leads", json=body, headers=headers)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json()["id"] == taken.json()["id"]


async def test_failed_handler_releases_the_key(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    unknown = uuid.uuid4()
    key = _key()
    for _ in range(2):
        r = await client.post(f"/deals/{unknown}/win", headers=m.headers(**{"Idempotency-Key": key}))
        _assert_error(r, 404, "not_found")
        assert "idempotent-replayed" not in r.headers
    assert await _key_rows(app_pool, m, key) == []
    # A conflict (lost deal) is not stored either: once the deal is reopened, the retry wins it.
    lead = await client.post("/leads", json={"name": "Eva"}, headers=m.headers(**{"Idempotency-Key": _key()}))
    deal = (await client.post("/deals", json={"lead_id": lead.json()["id"]}, headers=m.headers())).json()
    deal_id = uuid.UUID(deal["id"])
    await _as_owner(owner_pool, m, "update deals set stage = 'lost' where id = $1", deal_id)
    key = _key()
    lost = await client.post(f"/deals/{deal_id}/win", headers=m.headers(**{"Idempotency-Key": key}))
    _assert_error(lost, 409, "conflict")
    await _as_owner(owner_pool, m, "update deals set stage = 'open' where id = $1", deal_id)
    won = await client.post(f"/deals/{deal_id}/win", headers=m.headers(**{"Idempotency-Key": key}))
    assert won.status_code == 200, won.text
    assert won.json()["stage"] == "won"
    assert "idempotent-replayed" not in won.headers
    replay = await client.post(f"/deals/{deal_id}/win", headers=m.headers(**{"Idempotency-Key": key}))
    assert replay.status_code == 200
    assert replay.headers.get("idempotent-replayed") == "true"
    assert json.loads(replay.content) == won.json()


async def test_replay_is_byte_identical_to_the_first_response(
    client: httpx.AsyncClient, make_member: MakeMember, owner_pool: asyncpg.Pool
) -> None:
    """jsonb would hand back {"alpha", "mid", "zeta"} in its own key order; the replay must be
    the bytes that were sent the first time, with the same status and content-type."""
    m = await make_member()
    key = _key()
    body = {"name": "Byte", "meta": {"zeta": 1, "alpha": 2.5, "mid": "ação", "nested": {"b": [3, 1], "a": None}}}
    first = await client.post("/leads", json=body, headers=m.headers(**{"Idempotency-Key": key}))
    assert first.status_code == 201, first.text
    for _ in range(2):
        again = await client.post("/leads", json=body, headers=m.headers(**{"Idempotency-Key": key}))
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
        assert list(again.json()) == list(first.json())  # jsonb would have sorted the keys
        assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
        assert again.headers["x-request-id"] != first.headers["x-request-id"]  # the edge's own, per request
    async with owner_pool.acquire() as conn, conn.transaction():
        await conn.execute("select set_config('app.tenant_id', $1, true)", str(m.tenant_id))
        stored = await conn.fetchval(
            "select response_bytes from idempotency_keys where tenant_id = $1 and key = $2", m.tenant_id, key
        )
    assert stored == first.content
