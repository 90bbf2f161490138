"""GET /deals/{id}, PATCH /leads/{id} and PATCH /deals/{id} (issue 9 §3): validation, roles,
events written in the same transaction, and a win that emits deal.won once whichever path
(PATCH, POST /win) reaches it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Settings
from db.pool import tenant_tx
from db.tenants import upsert_membership
from serve.auth import mint_token

from .conftest import MakeMember, Member


async def _events(pool: asyncpg.Pool, m: Member, type_: str) -> list[dict[str, Any]]:
    async with tenant_tx(pool, m.tenant_id) as conn:
        rows = await conn.fetch(
            "select payload from event_log where tenant_id = $1 and type = $2 order by created_at, id",
            m.tenant_id,
            type_,
        )
    return [dict(r["payload"]) for r in rows]


async def _lead(client: httpx.AsyncClient, m: Member, **fields: Any) -> dict[str, Any]:
    r = await client.post(
        "/leads", json={"name": "Joana Prates", **fields}, headers=m.headers(**{"Idempotency-Key": str(uuid.uuid4())})
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _deal(client: httpx.AsyncClient, m: Member, lead_id: str, value_cents: int = 9900) -> dict[str, Any]:
    r = await client.post("/deals", json={"lead_id": lead_id, "value_cents": value_cents}, headers=m.headers())
    assert r.status_code == 201, r.text
    return dict(r.json())


def _err(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return dict(body["error"])


async def test_patch_lead_changes_fields_and_emits_events(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    lead = await _lead(client, m, email="joana@example.com", meta={"a": 1})
    r = await client.patch(f"/leads/{lead['id']}", json={"stage": "qualified"}, headers=m.headers())
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "qualified" and r.json()["updated_at"] > lead["updated_at"]
    assert (await client.get(f"/leads/{lead['id']}", headers=m.headers())).json()["stage"] == "qualified"
    changed = await _events(app_pool, m, "lead.stage_changed")
    assert changed == [{"lead_id": lead["id"], "from": "new", "to": "qualified", "source": "api"}]
    # The same stage again changes nothing and emits nothing.
    again = await client.patch(f"/leads/{lead['id']}", json={"stage": "qualified"}, headers=m.headers())
    assert again.status_code == 200 and again.json()["updated_at"] == r.json()["updated_at"]
    assert len(await _events(app_pool, m, "lead.stage_changed")) == 1
    # Other fields: email cleared with null, meta merged, score set; one lead.updated.
    r = await client.patch(
        f"/leads/{lead['id']}", json={"email": None, "meta": {"b": 2}, "score": 70}, headers=m.headers()
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["email"] is None and got["meta"] == {"a": 1, "b": 2} and got["score"] == 70
    assert got["stage"] == "qualified" and got["name"] == "Joana Prates"
    assert await _events(app_pool, m, "lead.updated") == [{"lead_id": lead["id"], "fields": ["email", "score", "meta"]}]


async def test_patch_lead_rejects_bad_input(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    lead = await _lead(client, m)
    bad = [
        {"stage": "junk"},
        {"stage": None},
        {"name": None},
        {"name": ""},
        {"score": 101},
        {"email": "not-an-email"},
        {"owner": "someone"},
        {"id": str(uuid.uuid4())},
        {},
        {"meta": {"x": "nul\u0000"}},
    ]
    for body in bad:
        _err(await client.patch(f"/leads/{lead['id']}", json=body, headers=m.headers()), 422, "validation_failed")
    r = await client.patch(
        f"/leads/{lead['id']}", content=b"{not json", headers=m.headers(**{"Content-Type": "application/json"})
    )
    _err(r, 400, "malformed_json")
    _err(await client.patch("/leads/not-a-uuid", json={"stage": "lost"}, headers=m.headers()), 422, "validation_failed")
    _err(await client.patch(f"/leads/{uuid.uuid4()}", json={"stage": "lost"}, headers=m.headers()), 404, "not_found")
    assert (await client.get(f"/leads/{lead['id']}", headers=m.headers())).json() == lead


async def test_viewers_cannot_patch(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    owner = await make_member()
    lead = await _lead(client, owner)
    deal = await _deal(client, owner, lead["id"])
    viewer_id = str(uuid.uuid4())
    await upsert_membership(app_pool, owner.tenant_id, viewer_id, None, "viewer")
    viewer = Member(owner.tenant_id, owner.slug, viewer_id, mint_token(settings, user_id=viewer_id))
    for path in (f"/leads/{lead['id']}", f"/deals/{deal['id']}"):
        _err(await client.patch(path, json={"stage": "lost"}, headers=viewer.headers()), 403, "forbidden")
    # Reading stays allowed; nothing changed.
    assert (await client.get(f"/deals/{deal['id']}", headers=viewer.headers())).json()["stage"] == "open"
    assert (await client.get(f"/leads/{lead['id']}", headers=viewer.headers())).json()["stage"] == "new"
    assert await _events(app_pool, owner, "deal.stage_changed") == []


@pytest.mark.parametrize("role", ["viewer", "auditor"])
async def test_read_only_roles_cannot_create_crm_records(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings, role: str
) -> None:
    owner = await make_member()
    lead = await _lead(client, owner)
    deal = await _deal(client, owner, lead["id"])
    user_id = str(uuid.uuid4())
    await upsert_membership(app_pool, owner.tenant_id, user_id, None, role)
    ro = Member(owner.tenant_id, owner.slug, user_id, mint_token(settings, user_id=user_id))
    key = {"Idempotency-Key": str(uuid.uuid4())}
    thread = {"channel": "chat", "external_id": "ro"}
    for method, path, body, extra in (
        ("POST", "/leads", {"name": "Ro", "email": "ro@example.com"}, key),
        ("POST", "/threads", thread, {}),
        ("POST", "/deals", {"lead_id": lead["id"], "value_cents": 100}, {}),
        ("POST", f"/deals/{deal['id']}/win", {}, key),
    ):
        r = await client.request(method, path, json=body, headers=ro.headers(**extra))
        _err(r, 403, "forbidden")
    leads = (await client.get("/leads", headers=owner.headers())).json()["items"]
    assert [x["id"] for x in leads] == [lead["id"]]
    assert (await client.get(f"/deals/{deal['id']}", headers=owner.headers())).json()["stage"] == "open"


async def test_get_deal(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    lead = await _lead(client, m)
    deal = await _deal(client, m, lead["id"], 12345)
    r = await client.get(f"/deals/{deal['id']}", headers=m.headers())
    assert r.status_code == 200 and r.json() == deal
    _err(await client.get(f"/deals/{uuid.uuid4()}", headers=m.headers()), 404, "not_found")
    _err(await client.get("/deals/123", headers=m.headers()), 422, "validation_failed")


async def test_patch_deal_stages_and_a_single_win(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    lead = await _lead(client, m)
    deal = await _deal(client, m, lead["id"])
    url = f"/deals/{deal['id']}"
    r = await client.patch(url, json={"title": "Plano anual", "value_cents": 19990}, headers=m.headers())
    assert r.status_code == 200 and r.json()["title"] == "Plano anual" and r.json()["value_cents"] == 19990
    assert await _events(app_pool, m, "deal.updated") == [{"deal_id": deal["id"], "fields": ["title", "value_cents"]}]
    # open → lost; a lost deal cannot be won until reopened.
    assert (await client.patch(url, json={"stage": "lost"}, headers=m.headers())).json()["stage"] == "lost"
    _err(await client.patch(url, json={"stage": "won"}, headers=m.headers()), 409, "conflict")
    win = await client.post(f"{url}/win", headers=m.headers(**{"Idempotency-Key": str(uuid.uuid4())}))
    _err(win, 409, "conflict")
    assert (await client.patch(url, json={"stage": "open"}, headers=m.headers())).json()["stage"] == "open"
    # open → won through PATCH: the same win as POST /win.
    won = await client.patch(url, json={"stage": "won"}, headers=m.headers())
    assert won.status_code == 200, won.text
    assert won.json()["stage"] == "won" and won.json()["won_at"] is not None
    assert (await client.get(f"/leads/{lead['id']}", headers=m.headers())).json()["stage"] == "customer"
    # Winning again by either path emits nothing more.
    assert (await client.patch(url, json={"stage": "won"}, headers=m.headers())).status_code == 200
    again = await client.post(f"{url}/win", headers=m.headers(**{"Idempotency-Key": str(uuid.uuid4())}))
    assert again.status_code == 200 and again.json()["won_at"] == won.json()["won_at"]
    assert await _events(app_pool, m, "deal.won") == [
        {"deal_id": deal["id"], "lead_id": lead["id"], "value_cents": 19990, "source": "api"}
    ]
    stages = [(e["from"], e["to"]) for e in await _events(app_pool, m, "deal.stage_changed")]
    assert stages == [("open", "lost"), ("lost", "open"), ("open", "won")]
    lead_stages = await _events(app_pool, m, "lead.stage_changed")
    assert [(e["from"], e["to"], e["source"]) for e in lead_stages] == [("new", "customer", "deal.won:api")]
    # A won deal is final: no other stage, no other value; its title may still change.
    _err(await client.patch(url, json={"stage": "lost"}, headers=m.headers()), 409, "conflict")
    _err(await client.patch(url, json={"value_cents": 1}, headers=m.headers()), 409, "conflict")
    assert (await client.patch(url, json={"title": "Anual (pago)"}, headers=m.headers())).json()["stage"] == "won"


async def test_patch_deal_rejects_bad_input(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    deal = await _deal(client, m, (await _lead(client, m))["id"])
    url = f"/deals/{deal['id']}"
    for body in (
        {"stage": "closed"},
        {"stage": None},
        {"value_cents": -1},
        {"value_cents": "a lot"},
        {"title": None},
        {"lead_id": str(uuid.uuid4())},
        {"won_at": "2026-01-01T00:00:00Z"},
        {},
    ):
        _err(await client.patch(url, json=body, headers=m.headers()), 422, "validation_failed")
    _err(await client.patch(f"/deals/{uuid.uuid4()}", json={"stage": "lost"}, headers=m.headers()), 404, "not_found")
    assert (await client.get(url, headers=m.headers())).json() == deal
