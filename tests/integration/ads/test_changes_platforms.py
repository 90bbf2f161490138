"""The same change flow on Google Ads (validate_only dry run, budgets in micros) and TikTok
(no dry run: recorded as unsupported) sandboxes: create PAUSED → approve → ACTIVE once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Settings
from db.pool import tenant_tx
from tools.ads.accounts import AdsDeps, build_registry, provision
from tools.ads.changes import apply_change, approve_change, submit_change
from tools.ads.google.sandbox import running_sandbox as google_sandbox
from tools.ads.guardrails import Policy
from tools.ads.policy import put_policy
from tools.ads.tiktok.sandbox import running_sandbox as tiktok_sandbox
from tools.inbox import SecretBox

from ...conftest import MakeMember


@asynccontextmanager
async def google_account() -> AsyncIterator[dict[str, Any]]:
    async with google_sandbox() as sb, httpx.AsyncClient(timeout=10) as http:
        r = await http.post(
            f"{sb.base_url}/sandbox/accounts",
            json={"customer_id": "1234567890", "access_token": "ya29.tok-0123456789", "developer_token": "dev-0123"},
        )
        assert r.status_code == 201, r.text
        yield {
            "platform": "google",
            "external_id": "123-456-7890",
            "base_url": sb.base_url,
            "config": {},
            "secrets": {"access_token": "ya29.tok-0123456789", "developer_token": "dev-0123"},
        }


@asynccontextmanager
async def tiktok_account() -> AsyncIterator[dict[str, Any]]:
    async with tiktok_sandbox(seed=3) as sb, httpx.AsyncClient(timeout=10) as http:
        advertiser = str(7_000_000_000_000_000_000 + uuid.uuid4().int % 10**12)
        r = await http.post(
            f"{sb.base_url}/sandbox/accounts",
            json={"advertiser_id": advertiser, "access_token": "tt-token-0123456789", "currency": "BRL"},
        )
        assert r.status_code == 200, r.text
        yield {
            "platform": "tiktok",
            "external_id": advertiser,
            "base_url": sb.base_url,
            "config": {},
            "secrets": {"access_token": "tt-token-0123456789"},
        }


async def _no_sleep(_s: float) -> None:
    return None


@pytest.mark.parametrize(("factory", "dry_supported"), [(google_account, True), (tiktok_account, False)])
async def test_create_paused_approve_active_once(
    factory: Any, dry_supported: bool, app_pool: asyncpg.Pool, make_member: MakeMember, settings: Settings
) -> None:
    member = await make_member("owner")
    tid = member.tenant_id
    box = SecretBox(settings.channel_secrets_key)
    async with factory() as spec, httpx.AsyncClient(timeout=10) as http:
        deps = AdsDeps(box, build_registry(http))
        async with tenant_tx(app_pool, tid) as conn:
            acct = await provision(conn, tid, box, **spec)
            await put_policy(conn, tid, Policy(daily_cap_minor=20_000), updated_by="member:t")
            made = await submit_change(
                conn,
                tid,
                deps=deps,
                account_id=acct["id"],
                kind="create_campaign",
                params={"name": "Campanha teste", "daily_budget_minor": 12_345},
                requested_by="agent:lucy:t",
                idempotency_key="c1",
                sleep=_no_sleep,
            )
        assert made["status"] == "applied", made
        assert made["after"]["status"] == "paused" and made["after"]["daily_budget_minor"] == 12_345
        assert made["dry_run"]["supported"] is dry_supported
        async with tenant_tx(app_pool, tid) as conn:
            ask = await submit_change(
                conn,
                tid,
                deps=deps,
                account_id=acct["id"],
                kind="set_status",
                params={"status": "active"},
                requested_by="agent:lucy:t",
                idempotency_key="a1",
                object_id=made["object_id"],
            )
            assert ask["status"] == "proposed" and ask["needs_approval"]
            await approve_change(conn, tid, ask["id"], approved_by="member:boss", role="admin")
        for _ in range(2):  # a second apply is a no-op
            async with tenant_tx(app_pool, tid) as conn:
                done = await apply_change(conn, tid, ask["id"], deps=deps, sleep=_no_sleep)
            assert done["status"] == "applied" and done["attempts"] == 1
        async with tenant_tx(app_pool, tid) as conn:
            account = await deps.account(conn, tid, acct["id"])
        live = await deps.connector(spec["platform"]).get_object(account, "campaign", made["after"]["external_id"])
        assert live.status == "active" and live.daily_budget_minor == 12_345
