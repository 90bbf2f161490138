"""One statement per Asaas delivery (ADR 0008, migration 0016): ``asaas_ingest_event``
checks the token, stores the raw event and its outbox event, and commits — or writes
nothing. These tests call it the way the gateway does (``tools.payments.ingest`` on a pool
that skips the session reset) and look at the rows from other connections."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from core.errors import Unauthorized
from core.settings import Settings
from core.tenancy import TenantId
from db import payments as q
from db.pool import create_pool, tenant_tx
from tools.payments import ingest, new_webhook_token, token_hash

from ..payments_support import hooked_member, stored_asaas_events
from .conftest import MakeMember


@pytest.fixture
async def ingest_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.require_database_url(), max_size=2, reset_session=False)
    yield pool
    await pool.close()


async def _hooked(make_member: MakeMember, pool: asyncpg.Pool) -> tuple[TenantId, str]:
    m, token = await hooked_member(make_member, pool)
    return m.tenant_id, token


def _event(event_id: str) -> bytes:
    return json.dumps({"id": event_id, "event": "PAYMENT_RECEIVED", "payment": {"id": "pay_1"}}).encode()


async def test_one_call_stores_once_with_its_outbox_event(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    tenant, token = await _hooked(make_member, app_pool)
    first = await ingest(ingest_pool, token, _event("evt_a"))
    again = await ingest(ingest_pool, token, _event("evt_a"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.tenant_id == tenant
    # Returned means committed: another connection (the test's own pool) sees it.
    events, outbox = await stored_asaas_events(app_pool, tenant)
    assert events == ["evt_a"]
    assert len(outbox) == 1 and outbox[0]["event_id"] == "evt_a" and outbox[0]["payment_id"] == "pay_1"
    assert outbox[0]["event"] == "PAYMENT_RECEIVED" and isinstance(outbox[0]["asaas_event"], int)


async def test_wrong_or_foreign_token_writes_nothing(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    a, token_a = await _hooked(make_member, app_pool)
    b, token_b = await _hooked(make_member, app_pool)
    secret_a = token_a.rsplit(".", 1)[1]
    for bad in (token_a + "x", f"tdm1.{b}.{secret_a}", new_webhook_token(a)):
        with pytest.raises(Unauthorized):
            await ingest(ingest_pool, bad, _event("evt_forged"))
    # A tenant without a token configured refuses every token.
    bare = await make_member()
    with pytest.raises(Unauthorized):
        await ingest(ingest_pool, new_webhook_token(bare.tenant_id), _event("evt_forged"))
    for tenant in (a, b, bare.tenant_id):
        assert await stored_asaas_events(app_pool, tenant) == ([], [])
    # B's own token still works and lands in B only.
    await ingest(ingest_pool, token_b, _event("evt_b"))
    assert (await stored_asaas_events(app_pool, b))[0] == ["evt_b"] and (await stored_asaas_events(app_pool, a))[
        0
    ] == []


async def test_tenant_context_does_not_outlive_the_statement(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    """The pool skips RESET ALL on release, so the function must leave nothing behind:
    the next statement on the same connection has no tenant and RLS shows it nothing."""
    tenant, token = await _hooked(make_member, app_pool)
    async with ingest_pool.acquire() as conn:
        outcome = await q.ingest_asaas_event(
            conn, tenant, token_hash=token_hash(token), event_id="evt_ctx", event_type="PAYMENT_CREATED",
            payment_id=None, payload={"id": "evt_ctx"}, request_id="rid-1",
        )  # fmt: skip
        assert outcome == "stored"
        assert not await conn.fetchval("select current_setting('app.tenant_id', true)")
        assert await conn.fetchval("select count(*) from asaas_events") == 0
        assert not conn.is_in_transaction()


async def test_refuses_to_run_inside_a_transaction(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    """Inside a transaction its commit would be the caller's, not the statement's: an
    acknowledgement could precede the commit."""
    tenant, token = await _hooked(make_member, app_pool)
    async with tenant_tx(ingest_pool, tenant) as conn:
        with pytest.raises(RuntimeError, match="autocommit"):
            await q.ingest_asaas_event(
                conn, tenant, token_hash=token_hash(token), event_id="evt_tx", event_type="PAYMENT_CREATED",
                payment_id=None, payload={}, request_id=None,
            )  # fmt: skip
    assert await stored_asaas_events(app_pool, tenant) == ([], [])


@pytest.mark.parametrize("name", ["asaas_ingest_event", "asaas_ingest_events"])
async def test_function_is_invoker_with_a_fixed_search_path(owner_pool: asyncpg.Pool, name: str) -> None:
    """Both ingest functions (one delivery; a group commit, ADR 0010) must not bypass RLS
    (SECURITY INVOKER: they run as the calling app role), no schema on a caller's
    search_path may shadow what they use, and only the app role may call them."""
    async with owner_pool.acquire() as conn:
        fn = await conn.fetchrow(
            """select p.oid, p.prosecdef, p.proconfig from pg_proc p
                 join pg_namespace n on n.oid = p.pronamespace
                where n.nspname = 'public' and p.proname = $1""",
            name,
        )
        assert fn is not None
        grants = {
            role: await conn.fetchval("select has_function_privilege($1, $2::oid, 'EXECUTE')", role, fn["oid"])
            for role in ("tridium_app", "tridium_relay")
        }
        public = await conn.fetchval(
            """select exists (select 1 from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                 where p.oid = $1 and a.grantee = 0 and a.privilege_type = 'EXECUTE')""",
            fn["oid"],
        )
    assert fn["prosecdef"] is False
    assert fn["proconfig"] == ["search_path=pg_catalog, public"]
    assert grants == {"tridium_app": True, "tridium_relay": False}
    assert public is False
