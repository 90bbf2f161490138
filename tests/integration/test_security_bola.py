"""Object-level authorization and authentication at the API (OWASP API1, test matrix I5):
tenant A's token never reaches tenant B's objects, bad tokens are 401, and the tenant is
resolved from X-Tenant-Id (uuid or slug) or the Host subdomain."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from core.settings import Settings
from serve.auth import mint_token

from .conftest import MakeMember, Member, client_for


@dataclass(frozen=True)
class World:
    """One member per tenant, each with a lead, a thread, a message and a deal."""

    member: Member
    lead: dict[str, Any]
    thread: dict[str, Any]
    message: dict[str, Any]
    deal: dict[str, Any]


async def _world(client: httpx.AsyncClient, m: Member) -> World:
    lead = await client.post(
        "/leads", json={"name": f"Lead of {m.slug}"}, headers=m.headers(**{"Idempotency-Key": str(uuid.uuid4())})
    )
    assert lead.status_code == 201, lead.text
    thread = await client.post(
        "/threads",
        json={"channel": "whatsapp", "external_id": f"ext-{m.slug}", "lead_id": lead.json()["id"]},
        headers=m.headers(),
    )
    assert thread.status_code == 201, thread.text
    message = await client.post(
        "/messages",
        json={"thread_id": thread.json()["id"], "direction": "in", "sender": "x", "body": f"secret of {m.slug}"},
        headers=m.headers(),
    )
    assert message.status_code == 201, message.text
    deal = await client.post("/deals", json={"lead_id": lead.json()["id"], "value_cents": 500}, headers=m.headers())
    assert deal.status_code == 201, deal.text
    return World(m, lead.json(), thread.json(), message.json(), deal.json())


@pytest.fixture(scope="module")
async def worlds(app: FastAPI, make_member: MakeMember) -> tuple[World, World]:
    async with client_for(app) as c:
        return await _world(c, await make_member()), await _world(c, await make_member())


def _assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body


async def test_foreign_ids_are_not_found(client: httpx.AsyncClient, worlds: tuple[World, World]) -> None:
    a, b = worlds
    h = a.member.headers
    _assert_error(await client.get(f"/leads/{b.lead['id']}", headers=h()), 404, "not_found")
    win = await client.post(f"/deals/{b.deal['id']}/win", headers=h(**{"Idempotency-Key": str(uuid.uuid4())}))
    _assert_error(win, 404, "not_found")
    msg = await client.post(
        "/messages",
        json={"thread_id": b.thread["id"], "direction": "out", "sender": "a", "body": "into B's thread"},
        headers=h(),
    )
    _assert_error(msg, 404, "not_found")
    deal = await client.post("/deals", json={"lead_id": b.lead["id"]}, headers=h())
    _assert_error(deal, 404, "not_found")
    thread = await client.post(
        "/threads", json={"channel": "chat", "external_id": "bola", "lead_id": b.lead["id"]}, headers=h()
    )
    _assert_error(thread, 404, "not_found")
    # Nothing of B changed: the deal is still open, the thread has only B's message.
    bh = b.member.headers()
    deals = (await client.get("/deals", headers=bh)).json()["items"]
    assert [(d["id"], d["stage"]) for d in deals] == [(b.deal["id"], "open")]
    msgs = (await client.get("/messages", params={"thread_id": b.thread["id"]}, headers=bh)).json()["items"]
    assert [m["id"] for m in msgs] == [b.message["id"]]
    # The own objects work with the same token (the 404s are not a broken route).
    assert (await client.get(f"/leads/{a.lead['id']}", headers=h())).status_code == 200
    # Inbox routes on B's conversation (tools.inbox): 404, and B's thread is unchanged.
    tid = b.thread["id"]
    for path in ("take", "release", "close", "handoff", "read"):
        _assert_error(await client.post(f"/inbox/conversations/{tid}/{path}", headers=h()), 404, "not_found")
    _assert_error(await client.get(f"/inbox/conversations/{tid}", headers=h()), 404, "not_found")
    _assert_error(await client.get(f"/inbox/conversations/{tid}/notes", headers=h()), 404, "not_found")
    note = await client.post(f"/inbox/conversations/{tid}/notes", json={"body": "into B"}, headers=h())
    _assert_error(note, 404, "not_found")
    reply = await client.post(f"/inbox/conversations/{tid}/reply", json={"text": "into B"}, headers=h())
    _assert_error(reply, 404, "not_found")
    b_conv = (await client.get(f"/inbox/conversations/{tid}", headers=bh)).json()
    assert b_conv["status"] == "bot" and b_conv["assignee"] is None
    assert (await client.get(f"/inbox/conversations/{a.thread['id']}", headers=h())).status_code == 200


async def test_lists_never_include_the_other_tenant(client: httpx.AsyncClient, worlds: tuple[World, World]) -> None:
    a, b = worlds
    h = a.member.headers()
    own = {
        "/leads": a.lead["id"],
        "/threads": a.thread["id"],
        "/messages": a.message["id"],
        "/deals": a.deal["id"],
        "/inbox/conversations": a.thread["id"],
    }
    for path, own_id in own.items():
        r = await client.get(path, params={"limit": 200}, headers=h)
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()["items"]] == [own_id], path
    # Filtering by B's ids finds nothing rather than B's rows.
    filtered = {
        "/threads": {"lead_id": b.lead["id"]},
        "/messages": {"thread_id": b.thread["id"]},
        "/deals": {"lead_id": b.lead["id"]},
        "/leads": {"q": "Lead of"},
    }
    for path, params in filtered.items():
        items = (await client.get(path, params=params, headers=h)).json()["items"]
        assert all(x["id"] not in {b.lead["id"], b.thread["id"], b.message["id"], b.deal["id"]} for x in items)
        if path != "/leads":
            assert items == [], path


async def test_token_of_a_with_tenant_b_is_forbidden(client: httpx.AsyncClient, worlds: tuple[World, World]) -> None:
    a, b = worlds
    for ref in (b.member.slug, str(b.member.tenant_id)):
        r = await client.get("/leads", headers={"Authorization": f"Bearer {a.member.token}", "X-Tenant-Id": ref})
        _assert_error(r, 403, "forbidden")
        r = await client.get(
            f"/leads/{b.lead['id']}", headers={"Authorization": f"Bearer {a.member.token}", "X-Tenant-Id": ref}
        )
        _assert_error(r, 403, "forbidden")
    r = await client.get("/leads", headers={"Authorization": f"Bearer {a.member.token}", "X-Tenant-Id": "no-such"})
    _assert_error(r, 403, "forbidden")


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _bad_tokens(settings: Settings, user_id: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + 3600, "role": "authenticated"}
    return {
        "expired": mint_token(settings, user_id=user_id, ttl_s=-3600),
        "other_secret": jwt.encode(claims, "another-secret-that-is-long-enough-0123456789", algorithm="HS256"),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg_none_upper": f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(claims)}.",
        "no_exp": jwt.encode({"sub": user_id}, settings.jwt_secret.get_secret_value(), algorithm="HS256"),
        "tampered": _tamper(mint_token(settings, user_id=user_id), {"sub": "someone-else"}),
        "garbage": "not-a-jwt",
    }


def _tamper(token: str, changes: dict[str, Any]) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_b64(claims | changes)}.{sig}"


@pytest.mark.parametrize(
    "kind", ["expired", "other_secret", "alg_none", "alg_none_upper", "no_exp", "tampered", "garbage"]
)
async def test_bad_tokens_are_unauthorized(
    client: httpx.AsyncClient, worlds: tuple[World, World], settings: Settings, kind: str
) -> None:
    a, _ = worlds
    token = _bad_tokens(settings, a.member.user_id)[kind]
    r = await client.get("/leads", headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": a.member.slug})
    _assert_error(r, 401, "unauthorized")
    r = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    _assert_error(r, 401, "unauthorized")


async def test_missing_or_malformed_authorization_is_unauthorized(
    client: httpx.AsyncClient, worlds: tuple[World, World]
) -> None:
    a, _ = worlds
    for headers in (
        {"X-Tenant-Id": a.member.slug},
        {"X-Tenant-Id": a.member.slug, "Authorization": a.member.token},
        {"X-Tenant-Id": a.member.slug, "Authorization": f"Basic {a.member.token}"},
        {"X-Tenant-Id": a.member.slug, "Authorization": "Bearer "},
    ):
        r = await client.get("/leads", headers=headers)
        _assert_error(r, 401, "unauthorized")
    r = await client.post(
        f"/deals/{a.deal['id']}/win", headers={"X-Tenant-Id": a.member.slug, "Idempotency-Key": "anon"}
    )
    _assert_error(r, 401, "unauthorized")
    r = await client.get(f"/leads/{a.lead['id']}", headers={"X-Tenant-Id": a.member.slug})
    _assert_error(r, 401, "unauthorized")


async def test_tenant_resolution_by_uuid_slug_and_subdomain(
    client: httpx.AsyncClient, worlds: tuple[World, World]
) -> None:
    a, b = worlds
    auth = {"Authorization": f"Bearer {a.member.token}"}
    for headers in (
        {**auth, "X-Tenant-Id": str(a.member.tenant_id)},
        {**auth, "X-Tenant-Id": a.member.slug},
        {**auth, "X-Tenant-Id": a.member.slug.upper()},
        {**auth, "Host": f"{a.member.slug}.app.example.com"},
    ):
        r = await client.get(f"/leads/{a.lead['id']}", headers=headers)
        assert r.status_code == 200, (headers, r.text)
        assert r.json()["id"] == a.lead["id"]
    # Another tenant's subdomain is forbidden, and a bare host names no tenant.
    r = await client.get("/leads", headers={**auth, "Host": f"{b.member.slug}.app.example.com"})
    _assert_error(r, 403, "forbidden")
    r = await client.get("/leads", headers={**auth, "Host": "localhost"})
    _assert_error(r, 403, "forbidden")
    # X-Tenant-Id wins over the Host.
    r = await client.get(
        "/leads", headers={**auth, "Host": f"{a.member.slug}.app.example.com", "X-Tenant-Id": b.member.slug}
    )
    _assert_error(r, 403, "forbidden")
