"""tools.ads.changes against real Postgres and the Meta/Google/TikTok ads sandboxes: guardrails,
approvals by a person, apply exactly once, retries and failures surfaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import pytest_asyncio

from core.errors import Forbidden
from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools.ads.accounts import AdsDeps, build_registry, list_accounts, load_account, provision
from tools.ads.changes import (
    apply_change,
    approve_change,
    get_change,
    list_changes,
    raise_for_change,
    reject_change,
    submit_change,
)
from tools.ads.errors import AdsAuthFailed, ApprovalRequired, GuardrailViolated
from tools.ads.guardrails import Policy
from tools.ads.meta.sandbox import running_sandbox
from tools.ads.policy import put_policy
from tools.inbox import SecretBox

from ...conftest import MakeMember

TOKEN = "EAAB-sandbox-token-0123456789"


async def _no_sleep(_s: float) -> None:
    return None


@dataclass
class Env:
    pool: asyncpg.Pool
    tenant_id: TenantId
    account_id: UUID
    deps: AdsDeps
    admin: httpx.AsyncClient
    external_id: str

    def tx(self) -> Any:
        return tenant_tx(self.pool, self.tenant_id)

    async def sandbox_objects(self) -> dict[str, dict[str, Any]]:
        r = await self.admin.get("/sandbox/objects", params={"account": self.external_id})
        return {o["id"]: o for o in r.json()["objects"]}

    async def requests(self, operation: str) -> int:
        r = await self.admin.get("/sandbox/requests", params={"account": self.external_id})
        return sum(1 for x in r.json()["requests"] if x["operation"] == operation)

    async def fault(self, **body: Any) -> None:
        (await self.admin.post("/sandbox/faults", json=body)).raise_for_status()

    async def submit(
        self, kind: str, params: dict[str, Any], object_id: UUID | None = None, **kw: Any
    ) -> dict[str, Any]:
        async with self.tx() as conn:
            return await submit_change(
                conn,
                self.tenant_id,
                deps=self.deps,
                account_id=self.account_id,
                kind=kind,
                params=params,
                requested_by=kw.get("by", "agent:lucy:test"),
                idempotency_key=kw.get("key", str(uuid4())),
                object_id=object_id,
                sleep=_no_sleep,
            )

    async def campaign(self, budget: int = 10_000) -> dict[str, Any]:
        made = await self.submit("create_campaign", {"name": f"Pizza {uuid4().hex[:6]}", "daily_budget_minor": budget})
        assert made["status"] == "applied", made
        return made

    async def approve(self, change_id: UUID) -> dict[str, Any]:
        async with self.tx() as conn:
            await approve_change(conn, self.tenant_id, change_id, approved_by="member:u1", role="owner")
        async with self.tx() as conn:
            return await apply_change(conn, self.tenant_id, change_id, deps=self.deps, sleep=_no_sleep)


@pytest_asyncio.fixture
async def env(app_pool: asyncpg.Pool, make_member: MakeMember, settings: Settings) -> AsyncIterator[Env]:
    member = await make_member("owner")
    box = SecretBox(settings.channel_secrets_key)
    async with running_sandbox() as sb, httpx.AsyncClient(base_url=sb.base_url, timeout=10) as admin:
        external_id = str(10**14 + int(uuid4().int % 10**13))
        r = await admin.post(
            "/sandbox/accounts", json={"ad_account_id": external_id, "access_token": TOKEN, "currency": "BRL"}
        )
        r.raise_for_status()
        async with httpx.AsyncClient(timeout=10) as http:
            deps = AdsDeps(box, build_registry(http))
            async with tenant_tx(app_pool, member.tenant_id) as conn:
                acct = await provision(
                    conn,
                    member.tenant_id,
                    box,
                    platform="meta",
                    external_id=external_id,
                    name="Pizzaria",
                    base_url=sb.base_url,
                    config={"page_id": "100200300"},
                    secrets={"access_token": TOKEN},
                )
                await put_policy(
                    conn,
                    member.tenant_id,
                    Policy(daily_cap_minor=30_000, monthly_cap_minor=2_000_000),
                    updated_by="member:test",
                )
            yield Env(app_pool, member.tenant_id, acct["id"], deps, admin, external_id)


async def test_account_secrets_are_sealed_and_never_listed(env: Env, app_pool: asyncpg.Pool) -> None:
    async with env.tx() as conn:
        listed = await list_accounts(conn, env.tenant_id)
        raw = await conn.fetchval("select secrets from ad_accounts where id = $1", env.account_id)
        view = await load_account(conn, env.tenant_id, env.account_id, box=env.deps.box)
    assert TOKEN.encode() not in bytes(raw)
    assert TOKEN not in str(listed) and listed[0]["secret_hints"]["access_token"] == "…" + TOKEN[-4:]
    assert view.secret("access_token") == TOKEN and view.base_url


async def test_create_is_paused_and_mirrored(env: Env) -> None:
    made = await env.campaign(12_000)
    assert made["after"]["status"] == "paused" and made["after"]["daily_budget_minor"] == 12_000
    assert made["dry_run"] == {"supported": True, "ok": True, "messages": []}  # Meta validate_only
    objs = await env.sandbox_objects()
    assert [o["status"] for o in objs.values()] == ["PAUSED"]
    async with env.tx() as conn:
        row = await conn.fetchrow("select status, daily_budget_minor from ad_objects where id = $1", made["object_id"])
    assert dict(row) == {"status": "paused", "daily_budget_minor": 12_000}


async def test_activation_waits_for_a_person_and_applies_once(env: Env) -> None:
    made = await env.campaign()
    asked = await env.submit("set_status", {"status": "active"}, made["object_id"])
    assert asked["status"] == "proposed" and asked["needs_approval"]
    async with env.tx() as conn:
        with pytest.raises(ApprovalRequired):
            await apply_change(conn, env.tenant_id, asked["id"], deps=env.deps)
        with pytest.raises(Forbidden):  # an agent never approves
            await approve_change(conn, env.tenant_id, asked["id"], approved_by="agent:lucy:x", role="owner")
        with pytest.raises(Forbidden):  # a member without the admin role neither
            await approve_change(conn, env.tenant_id, asked["id"], approved_by="member:u2", role="member")
    ext = made["after"]["external_id"]
    assert (await env.sandbox_objects())[ext]["status"] == "PAUSED"
    # Double approve + concurrent applies: one status update reaches the platform.
    results = await asyncio.gather(env.approve(asked["id"]), env.approve(asked["id"]), env.approve(asked["id"]))
    assert {r["status"] for r in results} == {"applied"}
    assert (await env.sandbox_objects())[ext]["status"] == "ACTIVE"
    assert await env.requests("update") == 2  # one dry run + one real update
    async with env.tx() as conn:
        change = await get_change(conn, env.tenant_id, asked["id"])
        events = await conn.fetch(
            "select type from event_log where tenant_id = $1 and payload->>'change_id' = $2 order by created_at",
            env.tenant_id,
            str(asked["id"]),
        )
    assert change["before"]["status"] == "paused" and change["after"]["status"] == "active"
    assert change["decided_by"] == "member:u1"
    assert [e["type"] for e in events] == ["ads.change.proposed", "ads.change.approved", "ads.change.applied"]


async def test_over_cap_and_big_jumps_are_refused_with_reasons(env: Env) -> None:
    big = await env.submit("create_campaign", {"name": "Too big", "daily_budget_minor": 50_000})
    assert big["status"] == "refused" and big["error_code"] == "guardrail:daily_cap"
    with pytest.raises(GuardrailViolated) as info:
        raise_for_change(big)
    assert "teto diário" in info.value.message
    a = await env.campaign(20_000)
    b = await env.campaign(15_000)
    assert (await env.approve((await env.submit("set_status", {"status": "active"}, a["object_id"]))["id"]))[
        "status"
    ] == "applied"
    # b would take the active total to 35 000 > 30 000
    refused = await env.submit("set_status", {"status": "active"}, b["object_id"])
    assert refused["status"] == "refused" and refused["error_code"] == "guardrail:daily_cap"
    # +50 % in one step
    jump = await env.submit("set_budget", {"daily_budget_minor": 30_000}, a["object_id"])
    assert jump["status"] == "refused" and jump["error_code"] == "guardrail:max_step"
    assert "20 %" in jump["error"]
    # +20 % is fine but waits for a person; the day's second +20 % passes the 40 % per day only cumulatively
    ok = await env.submit("set_budget", {"daily_budget_minor": 24_000}, a["object_id"])
    assert ok["status"] == "proposed" and ok["needs_approval"]
    # cuts apply at once, without approval
    cut = await env.submit("set_budget", {"daily_budget_minor": 8_000}, b["object_id"])
    assert cut["status"] == "applied" and not cut["needs_approval"]


async def test_cumulative_daily_raises_are_limited(env: Env) -> None:
    a = await env.campaign(10_000)
    async with env.tx() as conn:
        await put_policy(
            conn,
            env.tenant_id,
            Policy(daily_cap_minor=1_000_000, max_daily_change_pct=Decimal(30)),
            updated_by="member:t",
        )
    first = await env.submit("set_budget", {"daily_budget_minor": 12_000}, a["object_id"])
    assert (await env.approve(first["id"]))["status"] == "applied"
    second = await env.submit("set_budget", {"daily_budget_minor": 14_000}, a["object_id"])  # +20 % step, 40 % day
    assert second["status"] == "refused" and second["error_code"] == "guardrail:max_daily_change"


async def test_approved_changes_are_checked_again_before_applying(env: Env) -> None:
    a, b = await env.campaign(20_000), await env.campaign(20_000)
    ask_a = await env.submit("set_status", {"status": "active"}, a["object_id"])
    ask_b = await env.submit("set_status", {"status": "active"}, b["object_id"])
    assert ask_a["status"] == ask_b["status"] == "proposed"  # each fits alone
    assert (await env.approve(ask_a["id"]))["status"] == "applied"
    late = await env.approve(ask_b["id"])
    assert late["status"] == "refused" and late["error_code"] == "guardrail:daily_cap"
    assert (await env.sandbox_objects())[b["after"]["external_id"]]["status"] == "PAUSED"


async def test_reject_and_idempotent_propose(env: Env) -> None:
    a = await env.campaign()
    key = str(uuid4())
    first = await env.submit("set_status", {"status": "active"}, a["object_id"], key=key)
    again = await env.submit("set_status", {"status": "active"}, a["object_id"], key=key)
    assert again["id"] == first["id"] and again["replayed"]
    async with env.tx() as conn:
        with pytest.raises(Forbidden):
            await reject_change(conn, env.tenant_id, first["id"], rejected_by="rule:stop", role="owner")
        rejected = await reject_change(conn, env.tenant_id, first["id"], rejected_by="member:u1", role="admin")
        assert rejected["status"] == "rejected"
        assert [c["id"] for c in await list_changes(conn, env.tenant_id, status="rejected")] == [first["id"]]


async def test_rate_limit_is_retried_and_auth_failure_is_surfaced(env: Env) -> None:
    a = await env.campaign()
    await env.fault(operation="update", kind="rate_limit", code=17, count=1, regain_minutes=0)
    cut = await env.submit("set_budget", {"daily_budget_minor": 9_000}, a["object_id"])
    assert cut["status"] == "applied"
    assert (await env.sandbox_objects())[a["after"]["external_id"]]["daily_budget"] == 9_000
    await env.fault(operation="*", kind="auth", count=10)
    failed = await env.submit("set_status", {"status": "paused"}, a["object_id"])
    assert failed["status"] == "failed" and failed["error_code"] == "ads_account_auth_failed"
    with pytest.raises(AdsAuthFailed):
        raise_for_change(failed)


async def test_a_create_with_an_unknown_outcome_fails_without_a_second_create(env: Env) -> None:
    # count 2: the dry run takes the first (a validate_only call writes nothing), the create the second.
    await env.fault(operation="create_campaign", kind="after_commit_error", count=2)
    made = await env.submit("create_campaign", {"name": "Lost answer", "daily_budget_minor": 5_000})
    assert made["status"] == "failed" and "outcome_unknown" in (made["error"] or "")
    assert await env.requests("create_campaign") == 2  # the dry run and one real create, never repeated
    assert len(await env.sandbox_objects()) == 1  # the platform did create it: reconcile by listing


async def test_snapshot_reads_month_spend_and_the_days_raises(env: Env) -> None:
    from datetime import date, timedelta

    from tools.ads.changes import snapshot

    a = await env.campaign(10_000)
    today = date(2031, 5, 20)  # a fixed day: month spend counts days 1..19 only
    async with env.tx() as conn:
        for day, spend in ((date(2031, 5, 1), 1_000), (date(2031, 5, 19), 2_000), (today, 50_000)):
            await conn.execute(
                """insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, day, spend_minor)
                   values ($1, $2, 'meta', 'campaign', $3, $4, $5)""",
                env.tenant_id,
                env.account_id,
                a["after"]["external_id"],
                day,
                spend,
            )
        await conn.execute(
            """insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, day, spend_minor)
               values ($1, $2, 'meta', 'campaign', 'other', $3, 7000)""",
            env.tenant_id,
            env.account_id,
            today - timedelta(days=30),  # last month
        )
        snap = await snapshot(conn, env.tenant_id, a["object_id"], today=today)
    assert snap.month_spend_minor == 3_000 and snap.days_left == 12 and snap.other_active_daily_minor == 0
