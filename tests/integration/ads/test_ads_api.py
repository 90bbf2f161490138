"""The ads routes through the gateway app (real Postgres/Redis) against the Meta ads sandbox:
accounts and policy (admin), campaigns created PAUSED, approvals by a person, guardrails
answered 422 with the reason kept in the audit, tenant isolation, clear 4xx for bad input."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio

from core.settings import Settings
from db.tenants import upsert_membership
from serve.auth import mint_token
from tools.ads.meta.sandbox import running_sandbox

from ...conftest import MakeMember, Member

TOKEN = "EAAB-api-sandbox-token-abcdef"


@dataclass
class Env:
    client: httpx.AsyncClient
    owner: Member
    member: dict[str, str]  # headers of a plain member of the same tenant
    admin: httpx.AsyncClient  # the sandbox's control surface
    external_id: str
    base_url: str

    async def post(self, path: str, body: Any, key: str | None = None, headers: dict[str, str] | None = None) -> Any:
        h = dict(headers or self.owner.headers())
        h["Idempotency-Key"] = key or str(uuid.uuid4())
        return await self.client.post(path, json=body, headers=h)

    async def sandbox_status(self, external_id: str) -> str:
        r = await self.admin.get("/sandbox/objects", params={"account": self.external_id})
        return str({o["id"]: o for o in r.json()["objects"]}[external_id]["status"])


async def _provision(client: httpx.AsyncClient, who: Member, base_url: str, external_id: str) -> httpx.Response:
    return await client.post(
        "/admin/ads/accounts",
        json={
            "platform": "meta",
            "external_id": external_id,
            "name": "Pizzaria",
            "base_url": base_url,
            "config": {"page_id": "100200300"},
            "secrets": {"access_token": TOKEN},
        },
        headers=who.headers(),
    )


@pytest_asyncio.fixture
async def env(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[Env]:
    owner = await make_member("owner")
    user = str(uuid.uuid4())
    await upsert_membership(app_pool, owner.tenant_id, user, f"{user[:8]}@example.com", "member")
    member = {"Authorization": f"Bearer {mint_token(settings, user_id=user)}", "X-Tenant-Id": owner.slug}
    async with running_sandbox() as sb, httpx.AsyncClient(base_url=sb.base_url, timeout=10) as admin:
        external_id = str(10**14 + int(uuid.uuid4().int % 10**13))
        (
            await admin.post("/sandbox/accounts", json={"ad_account_id": external_id, "access_token": TOKEN})
        ).raise_for_status()
        r = await _provision(client, owner, sb.base_url, external_id)
        assert r.status_code == 200, r.text
        r = await client.put(
            "/admin/ads/policy",
            json={"daily_cap_minor": 30_000, "monthly_cap_minor": 1_500_000},
            headers=owner.headers(),
        )
        assert r.status_code == 200, r.text
        yield Env(client, owner, member, admin, external_id, sb.base_url)


async def test_accounts_and_policy_are_admin_only_and_never_echo_secrets(env: Env) -> None:
    r = await env.client.get("/admin/ads/accounts", headers=env.owner.headers())
    assert r.status_code == 200 and TOKEN not in r.text
    assert r.json()["items"][0]["secret_hints"] == {"access_token": "…" + TOKEN[-4:]}
    assert (await env.client.get("/admin/ads/accounts", headers=env.member)).status_code == 403
    assert (
        await env.client.put("/admin/ads/policy", json={"daily_cap_minor": 1}, headers=env.member)
    ).status_code == 403
    r = await env.client.get("/admin/ads/policy", headers=env.owner.headers())
    assert r.json() == {
        "daily_cap_minor": 30_000,
        "monthly_cap_minor": 1_500_000,
        "max_step_pct": 20.0,
        "max_daily_change_pct": 40.0,
    }


async def test_bad_input_is_a_clear_4xx(env: Env) -> None:
    h = env.owner.headers()
    bad_platform = await env.client.post(
        "/admin/ads/accounts",
        json={"platform": "myspace", "external_id": "1", "secrets": {"access_token": "x"}},
        headers=h,
    )
    assert bad_platform.status_code == 422
    no_token = await env.client.post("/admin/ads/accounts", json={"platform": "tiktok", "external_id": "77"}, headers=h)
    assert no_token.status_code == 422 and "access_token" in no_token.text
    for cap in (-1, 10.5, "100"):
        r = await env.client.put("/admin/ads/policy", json={"daily_cap_minor": cap}, headers=h)
        assert r.status_code == 422, cap
    r = await env.client.put(
        "/admin/ads/policy", json={"daily_cap_minor": 10_000, "monthly_cap_minor": 5_000}, headers=h
    )
    assert r.status_code == 422  # monthly below daily
    for budget in (100.5, -5, 0, "1000"):
        r = await env.post("/ads/campaigns", {"platform": "meta", "name": "x", "daily_budget_minor": budget})
        assert r.status_code == 422, budget
    r = await env.client.post(
        "/ads/campaigns", json={"platform": "meta", "name": "x", "daily_budget_minor": 1000}, headers=h
    )
    assert r.status_code == 400  # Idempotency-Key missing
    r = await env.post("/ads/campaigns", {"platform": "google", "name": "x", "daily_budget_minor": 1000})
    assert r.status_code == 409 and r.json()["error"]["code"] == "ads_account_not_configured"
    r = await env.post(f"/ads/campaigns/{uuid.uuid4()}/status", {"status": "paused"})
    assert r.status_code == 404


async def test_create_paused_activate_with_approval_once(env: Env) -> None:
    key = str(uuid.uuid4())
    body = {"platform": "meta", "name": "Pizza SP", "daily_budget_minor": 10_000, "activate": True}
    r = await env.post("/ads/campaigns", body, key=key)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["campaign"]["status"] == "paused" and made["change"]["status"] == "applied"
    activation = made["activation"]
    assert activation["status"] == "proposed" and activation["needs_approval"]
    ext = made["campaign"]["external_id"]
    assert await env.sandbox_status(ext) == "PAUSED"
    replay = await env.post("/ads/campaigns", body, key=key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["change"]["id"] == made["change"]["id"]
    reuse = await env.post("/ads/campaigns", {**body, "daily_budget_minor": 9_000}, key=key)
    assert reuse.status_code == 422
    queue = await env.client.get("/ads/changes", params={"status": "proposed"}, headers=env.owner.headers())
    assert [c["id"] for c in queue.json()["items"]] == [activation["id"]]
    # a member can ask, but not approve
    no = await env.client.post(f"/ads/changes/{activation['id']}/approve", headers=env.member)
    assert no.status_code == 403
    assert await env.sandbox_status(ext) == "PAUSED"
    ok = await env.client.post(
        f"/ads/changes/{activation['id']}/approve", json={"note": "ok"}, headers=env.owner.headers()
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "applied" and ok.json()["after"]["status"] == "active"
    again = await env.client.post(f"/ads/changes/{activation['id']}/approve", headers=env.owner.headers())
    assert again.status_code == 200 and again.json()["applied_at"] == ok.json()["applied_at"]
    assert await env.sandbox_status(ext) == "ACTIVE"
    listed = await env.client.get("/ads/campaigns", params={"status": "active"}, headers=env.member)
    assert [c["external_id"] for c in listed.json()["items"]] == [ext]


async def test_guardrails_answer_422_and_keep_the_refusal(env: Env) -> None:
    r = await env.post("/ads/campaigns", {"platform": "meta", "name": "Base", "daily_budget_minor": 10_000})
    campaign = r.json()["campaign"]
    jump = await env.post(f"/ads/campaigns/{campaign['id']}/budget", {"daily_budget_minor": 15_000})
    assert jump.status_code == 422 and jump.json()["error"]["code"] == "ads_guardrail_violated"
    assert "20 %" in jump.json()["error"]["message"]
    refused = await env.client.get("/ads/changes", params={"status": "refused"}, headers=env.owner.headers())
    assert refused.json()["items"][0]["error_code"] == "guardrail:max_step"
    raise_ok = await env.post(f"/ads/campaigns/{campaign['id']}/budget", {"daily_budget_minor": 12_000})
    assert raise_ok.status_code == 202 and raise_ok.json()["needs_approval"]
    cut = await env.post(f"/ads/campaigns/{campaign['id']}/budget", {"daily_budget_minor": 8_000}, headers=env.member)
    assert cut.status_code == 200 and cut.json()["status"] == "applied"
    rej = await env.client.post(f"/ads/changes/{raise_ok.json()['id']}/reject", headers=env.owner.headers())
    assert rej.status_code == 200 and rej.json()["status"] == "rejected"
    late = await env.client.post(f"/ads/changes/{raise_ok.json()['id']}/approve", headers=env.owner.headers())
    assert late.status_code == 409


async def test_auth_failure_is_a_409_and_recorded(env: Env) -> None:
    r = await env.post("/ads/campaigns", {"platform": "meta", "name": "Auth", "daily_budget_minor": 5_000})
    campaign = r.json()["campaign"]
    (await env.admin.post("/sandbox/faults", json={"operation": "*", "kind": "auth", "count": 10})).raise_for_status()
    r = await env.post(f"/ads/campaigns/{campaign['id']}/status", {"status": "paused"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "ads_account_auth_failed"
    failed = await env.client.get("/ads/changes", params={"status": "failed"}, headers=env.owner.headers())
    assert failed.json()["items"][0]["error_code"] == "ads_account_auth_failed"


async def test_other_tenants_see_nothing_and_change_nothing(env: Env, make_member: MakeMember) -> None:
    r = await env.post(
        "/ads/campaigns", {"platform": "meta", "name": "Mine", "daily_budget_minor": 5_000, "activate": True}
    )
    mine = r.json()
    other = await make_member("owner")
    h = other.headers()
    assert (await env.client.get("/ads/campaigns", headers=h)).json()["items"] == []
    assert (await env.client.get("/ads/changes", headers=h)).json()["items"] == []
    assert (await env.client.get(f"/ads/changes/{mine['activation']['id']}", headers=h)).status_code == 404
    assert (await env.client.post(f"/ads/changes/{mine['activation']['id']}/approve", headers=h)).status_code == 404
    assert (await env.client.post(f"/ads/changes/{mine['activation']['id']}/reject", headers=h)).status_code == 404
    r = await env.post(f"/ads/campaigns/{mine['campaign']['id']}/status", {"status": "paused"}, headers=h)
    assert r.status_code == 404
    r = await env.post(
        "/ads/campaigns",
        {"account_id": mine["change"]["account_id"], "name": "x", "daily_budget_minor": 100},
        headers=h,
    )
    assert r.status_code == 404
    assert (await env.client.get("/admin/ads/accounts", headers=h)).json()["items"] == []
    assert await env.sandbox_status(mine["campaign"]["external_id"]) == "PAUSED"


async def test_viewers_cannot_change_ads_and_throttling_is_retried(
    env: Env, app_pool: asyncpg.Pool, settings: Settings
) -> None:
    viewer = str(uuid.uuid4())
    await upsert_membership(app_pool, env.owner.tenant_id, viewer, f"{viewer[:8]}@example.com", "viewer")
    vh = {"Authorization": f"Bearer {mint_token(settings, user_id=viewer)}", "X-Tenant-Id": env.owner.slug}
    r = await env.post("/ads/campaigns", {"platform": "meta", "name": "V", "daily_budget_minor": 1_000}, headers=vh)
    assert r.status_code == 403
    assert (await env.client.get("/ads/campaigns", headers=vh)).status_code == 200
    r = await env.post("/ads/campaigns", {"platform": "meta", "name": "Throttled", "daily_budget_minor": 5_000})
    campaign = r.json()["campaign"]
    # Meta code 17 (user request limit) on the next update: waited out and retried.
    fault = {"operation": "update", "kind": "rate_limit", "code": 17, "count": 1, "regain_minutes": 0}
    (await env.admin.post("/sandbox/faults", json=fault)).raise_for_status()
    r = await env.post(f"/ads/campaigns/{campaign['id']}/budget", {"daily_budget_minor": 4_000})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    r = await env.admin.get("/sandbox/objects", params={"account": env.external_id})
    assert {o["id"]: o for o in r.json()["objects"]}[campaign["external_id"]]["daily_budget"] == 4_000


async def test_create_with_an_activation_over_the_cap_creates_paused_and_says_why(env: Env) -> None:
    a = await env.post("/ads/campaigns", {"platform": "meta", "name": "Big", "daily_budget_minor": 25_000})
    ask = await env.post(f"/ads/campaigns/{a.json()['campaign']['id']}/status", {"status": "active"})
    ok = await env.client.post(f"/ads/changes/{ask.json()['id']}/approve", headers=env.owner.headers())
    assert ok.status_code == 200 and ok.json()["status"] == "applied"
    r = await env.post(
        "/ads/campaigns", {"platform": "meta", "name": "Second", "daily_budget_minor": 10_000, "activate": True}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["campaign"]["status"] == "paused"
    assert body["activation"]["status"] == "refused" and body["activation"]["error_code"] == "guardrail:daily_cap"
    assert body["activation"]["violations"][0]["rule"] == "daily_cap"
