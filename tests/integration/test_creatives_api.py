"""Creatives review through the API: Clio's variants listed with their versions, approved or
rejected once by a member (viewers cannot), the decision recorded as an event; another
tenant's creatives are invisible and cannot be decided."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from core.settings import Settings
from db.pool import tenant_tx
from db.tenants import upsert_membership
from serve.auth import mint_token

from .conftest import MakeMember, Member


async def _creative(client: httpx.AsyncClient, m: Member, campaign: str = "marco") -> str:
    r = await client.post(
        "/agents/tools/create_creative_variants/invoke",
        json={
            "agent": "clio",
            "args": {
                "name": "Março",
                "audience": "novos alunos",
                "angle": "matrícula zero",
                "campaign": campaign,
                "variants": [
                    {"headline": "Matrícula zero", "body": "Matrícula zero em março."},
                    {"headline": "Comece já", "body": "Sem taxa de matrícula até o fim do mês."},
                ],
            },
        },
        headers=m.headers(**{"Idempotency-Key": str(uuid.uuid4())}),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["result"]["creative_id"])


async def _viewer_of(app_pool: asyncpg.Pool, settings: Settings, m: Member) -> Member:
    user_id = str(uuid.uuid4())
    await upsert_membership(app_pool, m.tenant_id, user_id, f"{user_id[:8]}@example.com", "viewer")
    return Member(m.tenant_id, m.slug, user_id, mint_token(settings, user_id=user_id))


async def test_review_flow(client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool) -> None:
    m = await make_member()
    creative_id = await _creative(client, m)
    page = (await client.get("/creatives", headers=m.headers())).json()
    assert [(c["id"], c["versions"], c["pending"], c["approved"]) for c in page["items"]] == [(creative_id, 2, 2, 0)]
    one = (await client.get(f"/creatives/{creative_id}", headers=m.headers())).json()
    assert [(v["version"], v["approval"]) for v in one["versions"]] == [(1, "pending"), (2, "pending")]

    url = f"/creatives/{creative_id}/versions/1/approval"
    r = await client.post(url, json={"decision": "approved", "note": "ok pela marca"}, headers=m.headers())
    assert r.status_code == 200, r.text
    assert r.json()["approval"] == "approved"
    again = await client.post(url, json={"decision": "approved"}, headers=m.headers())  # a retried click
    assert again.status_code == 200 and again.json()["approval"] == "approved"
    flip = await client.post(url, json={"decision": "rejected"}, headers=m.headers())
    assert flip.status_code == 409, flip.text
    assert flip.json()["error"]["details"]["approval"] == "approved"
    r2 = await client.post(
        f"/creatives/{creative_id}/versions/2/approval", json={"decision": "rejected"}, headers=m.headers()
    )
    assert r2.status_code == 200 and r2.json()["approval"] == "rejected"

    async with tenant_tx(app_pool, m.tenant_id) as conn:
        events = await conn.fetch(
            "select type, payload from event_log where tenant_id = $1 and type like 'creative.%' order by created_at",
            m.tenant_id,
        )
    assert [(e["type"], e["payload"]["version"], e["payload"]["by"]) for e in events] == [
        ("creative.approved", 1, m.user_id),
        ("creative.rejected", 2, m.user_id),
    ]
    page = (await client.get("/creatives", params={"campaign": "marco"}, headers=m.headers())).json()
    assert [(c["pending"], c["approved"]) for c in page["items"]] == [(0, 1)]


async def test_bad_input_and_viewers(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    m = await make_member()
    creative_id = await _creative(client, m)
    base = f"/creatives/{creative_id}/versions"
    cases: list[tuple[str, Any, int]] = [
        (f"{base}/1/approval", {"decision": "maybe"}, 422),
        (f"{base}/1/approval", {"decision": "approved", "extra": 1}, 422),
        (f"{base}/1/approval", {"decision": "approved", "note": "x\u0000"}, 422),
        (f"{base}/0/approval", {"decision": "approved"}, 422),
        (f"{base}/99/approval", {"decision": "approved"}, 404),
        (f"/creatives/{uuid.uuid4()}/versions/1/approval", {"decision": "approved"}, 404),
        ("/creatives/not-a-uuid/versions/1/approval", {"decision": "approved"}, 422),
    ]
    for url, body, status in cases:
        r = await client.post(url, json=body, headers=m.headers())
        assert r.status_code == status, (url, body, r.text)
    assert (await client.get("/creatives", params={"status": "nope"}, headers=m.headers())).status_code == 422
    viewer = await _viewer_of(app_pool, settings, m)
    assert (await client.get(f"/creatives/{creative_id}", headers=viewer.headers())).status_code == 200
    r = await client.post(f"{base}/1/approval", json={"decision": "approved"}, headers=viewer.headers())
    assert r.status_code == 403, r.text
    one = (await client.get(f"/creatives/{creative_id}", headers=m.headers())).json()
    assert {v["approval"] for v in one["versions"]} == {"pending"}


async def test_other_tenants_creatives_are_invisible(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    a, b = await make_member(), await make_member()
    b_creative = await _creative(client, b)
    assert (await client.get("/creatives", headers=a.headers())).json()["items"] == []
    assert (await client.get(f"/creatives/{b_creative}", headers=a.headers())).status_code == 404
    r = await client.post(
        f"/creatives/{b_creative}/versions/1/approval", json={"decision": "approved"}, headers=a.headers()
    )
    assert r.status_code == 404, r.text
    one = (await client.get(f"/creatives/{b_creative}", headers=b.headers())).json()
    assert one["versions"][0]["approval"] == "pending"
