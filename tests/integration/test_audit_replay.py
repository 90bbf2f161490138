"""Masked conversation replay (GET /audit/threads/{id}/replay): a real run through the
gateway, its messages, tool calls, ledger and sources, with every CPF, phone, e-mail and
card number masked; auditor/admin/owner only; another tenant's thread is not found."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx
from db.tenants import upsert_membership
from serve.auth import mint_token

from ..agents_support import parse_sse
from .conftest import MakeMember, Member

CPF = "529.982.247-25"
CARD = "4111 1111 1111 1111"
EMAIL = "maria.silva@example.com"
PHONE = "(11) 98765-4321"
QUESTION = (
    f"Oi, sou a Maria, CPF {CPF}, cartão {CARD}, e-mail {EMAIL}, fone {PHONE}. Vocês vendem passagens para Marte?"
)


async def _member_with_role(app_pool: asyncpg.Pool, settings: Settings, owner: Member, role: str) -> Member:
    user_id = str(uuid.uuid4())
    await upsert_membership(app_pool, owner.tenant_id, user_id, f"{user_id[:8]}@example.com", role)
    return Member(owner.tenant_id, owner.slug, user_id, mint_token(settings, user_id=user_id))


async def _conversation(client: httpx.AsyncClient, m: Member) -> dict[str, object]:
    r = await client.post("/agents/run", json={"agent": "luddy", "input": QUESTION}, headers=m.headers())
    assert r.status_code == 200, r.text
    done = parse_sse(r.text)[-1]
    assert done.event == "run.completed", done
    return dict(done.data)


async def test_replay_masks_pii_everywhere_and_is_audited(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    owner = await make_member()
    done = await _conversation(client, owner)
    auditor = await _member_with_role(app_pool, settings, owner, "auditor")
    r = await client.get(f"/audit/threads/{done['thread_id']}/replay", headers=auditor.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    for raw in (CPF, CARD, EMAIL, PHONE, "98765-4321", "4111111111111111"):
        assert raw not in r.text, raw
    assert [msg["direction"] for msg in body["messages"]] == ["in", "out"]
    incoming = body["messages"][0]["body"]
    assert "[CPF]" in incoming and "[CARTAO]" in incoming and "[EMAIL]" in incoming and "[TELEFONE]" in incoming
    (run,) = body["runs"]
    assert run["id"] == done["run_id"] and run["agent"] == "luddy" and run["status"] == "completed"
    assert "[CPF]" in run["input"] and run["output"] == body["messages"][1]["body"]
    names = [c["name"] for c in run["tool_calls"]]
    # Luddy captures the contact (upsert_lead): the arguments held the raw e-mail and phone.
    assert "upsert_lead" in names
    ledger = [i["tool"] for i in run["tool_invocations"]]
    assert "upsert_lead" in ledger and set(ledger) <= set(names)
    upsert = next(c for c in run["tool_calls"] if c["name"] == "upsert_lead")
    assert "[EMAIL]" in str(upsert["args"]) or "[TELEFONE]" in str(upsert["args"])
    assert body["masked"]["cpf"] >= 2 and body["masked"]["card"] >= 2  # message + run input, at least
    assert run["usage"]["tokens_out"] > 0
    async with tenant_tx(app_pool, TenantId(owner.tenant_id)) as conn:
        logged = await conn.fetchrow(
            """select actor, meta from audit_logs
               where tenant_id = $1 and action = 'conversation.replay' and target = $2""",
            owner.tenant_id,
            str(done["thread_id"]),
        )
    assert logged is not None and logged["actor"] == auditor.user_id and logged["meta"]["role"] == "auditor"


async def test_replay_is_for_auditors_admins_and_owners_only(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    owner = await make_member()
    done = await _conversation(client, owner)
    path = f"/audit/threads/{done['thread_id']}/replay"
    assert (await client.get(path, headers=owner.headers())).status_code == 200
    admin = await _member_with_role(app_pool, settings, owner, "admin")
    assert (await client.get(path, headers=admin.headers())).status_code == 200
    for role in ("member", "viewer"):
        m = await _member_with_role(app_pool, settings, owner, role)
        r = await client.get(path, headers=m.headers())
        assert r.status_code == 403, (role, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    # The auditor reads but may not act: running an agent is refused.
    auditor = await _member_with_role(app_pool, settings, owner, "auditor")
    r = await client.post("/agents/run", json={"agent": "luddy", "input": "oi"}, headers=auditor.headers())
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_replay_of_another_tenants_thread_is_not_found(
    client: httpx.AsyncClient, make_member: MakeMember
) -> None:
    a = await make_member()
    b = await make_member()
    done = await _conversation(client, b)
    path = f"/audit/threads/{done['thread_id']}/replay"
    r = await client.get(path, headers=a.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # A's token naming B's tenant is not a member there.
    r = await client.get(path, headers={**a.headers(), "X-Tenant-Id": b.slug})
    assert r.status_code == 403
    assert (await client.get(path, headers=b.headers())).status_code == 200
