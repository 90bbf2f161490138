"""RLS coverage from the catalog (test matrix I1, I3): every tenant table is protected,
the login roles cannot bypass it, and no tenant context means no rows and no writes.

The list of tenant tables comes from the catalog, never from this file: a new table with a
``tenant_id`` column and no entry in ``SEEDS`` fails here until someone writes its seed,
and with it the cross-tenant tests of ``test_rls_cross_tenant``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from core.tenancy import TenantId
from db.pool import tenant_tx
from db.tenants import create_tenant

from ..conftest import Infra

APP_ROLE = "tridium_app"
RELAY_ROLE = "tridium_relay"


@dataclass(frozen=True)
class Seed:
    """One realistic row of a tenant table.

    ``sql`` takes ``$1`` tenant_id, ``$2`` a unique text marker stored in ``column``, then
    the ids of the ``parents`` rows (same tenant) in order; it returns the row's id, if any.
    ``column`` identifies the row and is what an attacker tries to overwrite.
    """

    column: str
    sql: str
    parents: tuple[str, ...] = ()


# Dependency order: parents before children.
SEEDS: dict[str, Seed] = {
    "memberships": Seed(
        "email",
        "insert into memberships (tenant_id, user_id, email, role) values ($1, 'user-' || $2::text, $2, 'member')",
    ),
    "idempotency_keys": Seed(
        "path",
        """insert into idempotency_keys (tenant_id, principal, key, method, path, request_hash, expires_at)
           values ($1, 'user-1', $2, 'POST', $2, 'deadbeef', now() + interval '1 day')""",
    ),
    "leads": Seed(
        "name",
        """insert into leads (tenant_id, name, phone, email, source)
           values ($1, $2, '+5511999990000', 'maria@example.com', 'instagram') returning id""",
    ),
    "threads": Seed(
        "external_id",
        "insert into threads (tenant_id, lead_id, channel, external_id) values ($1, $3, 'whatsapp', $2) returning id",
        ("leads",),
    ),
    "messages": Seed(
        "body",
        """insert into messages (tenant_id, thread_id, direction, sender, body)
           values ($1, $3, 'in', 'Maria', $2) returning id""",
        ("threads",),
    ),
    "deals": Seed(
        "title",
        "insert into deals (tenant_id, lead_id, title, value_cents) values ($1, $3, $2, 19900) returning id",
        ("leads",),
    ),
    "kb_spaces": Seed("name", "insert into kb_spaces (tenant_id, name) values ($1, $2) returning id"),
    "kb_uploads": Seed(
        "filename",
        """insert into kb_uploads (tenant_id, space_id, path, filename, mime, bytes)
           values ($1, $3, 'uploads/' || $2::text, $2, 'application/pdf', 1024) returning id""",
        ("kb_spaces",),
    ),
    "kb_docs": Seed(
        "title",
        """insert into kb_docs (tenant_id, space_id, upload_id, title, body)
           values ($1, $3, $4, $2, 'Atendemos das 9h às 18h') returning id""",
        ("kb_spaces", "kb_uploads"),
    ),
    "kb_vectors": Seed(
        "chunk",
        """insert into kb_vectors (tenant_id, doc_id, chunk_index, chunk, content_hash, model, dim, embedding)
           values ($1, $3, (select count(*) from kb_vectors where tenant_id = $1 and doc_id = $3), $2,
                   md5($2::text), 'test-embed', 3, '[0.1,0.2,0.3]') returning id""",
        ("kb_docs",),
    ),
    "agents": Seed("role", "insert into agents (tenant_id, name, role) values ($1, 'luddy', $2) returning id"),
    "prompt_versions": Seed(
        "text",
        """insert into prompt_versions (tenant_id, agent_id, version, text)
           values ($1, $3, (select coalesce(max(version), 0) + 1 from prompt_versions
                            where tenant_id = $1 and agent_id = $3), $2) returning id""",
        ("agents",),
    ),
    "agent_runs": Seed(
        "input",
        "insert into agent_runs (tenant_id, agent_id, thread_id, input) values ($1, $3, $4, $2) returning id",
        ("agents", "threads"),
    ),
    "invoices": Seed(
        "status",
        """insert into invoices (tenant_id, external_id, deal_id, lead_id, amount_cents, status)
           values ($1, 'pay_' || $2::text, $3, $4, 19900, $2) returning id""",
        ("deals", "leads"),
    ),
    "payments": Seed(
        "status",
        "insert into payments (tenant_id, invoice_id, status) values ($1, $3, $2) returning id",
        ("invoices",),
    ),
    "asaas_events": Seed(
        "event_type",
        """insert into asaas_events (tenant_id, event_id, event_type, payload)
           values ($1, 'evt_' || $2::text, $2, '{"event": "PAYMENT_RECEIVED"}') returning id""",
    ),
    # 0004 payments
    "integrations": Seed(
        "webhook_url",
        """insert into integrations (tenant_id, provider, base_url, api_key_ref, webhook_url, webhook_token_hash)
           values ($1, 'asaas', 'http://127.0.0.1:8090', 'sandbox', $2, repeat('a', 64))
           on conflict (tenant_id, provider) do update set webhook_url = excluded.webhook_url returning id""",
    ),
    # 0005 agents
    "tool_invocations": Seed(
        "idempotency_key",
        """insert into tool_invocations (tenant_id, agent, tool, idempotency_key, run_id, args, result)
           values ($1, 'luddy', 'upsert_lead', $2, $3, '{"name": "Ana"}', '{"ok": true}') returning id""",
        ("agent_runs",),
    ),
    "agent_messages": Seed(
        "from_agent",
        """insert into agent_messages (tenant_id, from_agent, to_agent, kind, body)
           values ($1, $2, 'lucy', 'ask', '{"question": "KPIs?"}') returning id""",
    ),
    "creatives": Seed(
        "name",
        """insert into creatives (tenant_id, name, audience, angle, campaign, deal_id)
           values ($1, $2, 'alunos novos', 'cupom', 'marco', $3) returning id""",
        ("deals",),
    ),
    "creative_versions": Seed(
        "headline",
        """insert into creative_versions (tenant_id, creative_id, version, headline, body, run_id)
           values ($1, $3, (select coalesce(max(version), 0) + 1 from creative_versions
                            where tenant_id = $1 and creative_id = $3), $2, 'Matrícula zero em março [1]', $4)
           returning id""",
        ("creatives", "agent_runs"),
    ),
    "attributed_conversions": Seed(
        "campaign",
        """insert into attributed_conversions (tenant_id, deal_id, lead_id, source, campaign, value_cents)
           values ($1, $3, $4, 'instagram', $2, 19900)
           on conflict (tenant_id, deal_id) do update set campaign = excluded.campaign returning id""",
        ("deals", "leads"),
    ),
    # 0007 inbox
    "channel_accounts": Seed(
        "name",
        """insert into channel_accounts (tenant_id, channel, provider, external_id, name, secrets)
           values ($1, 'whatsapp', 'whatsapp_cloud', 'pn-' || $2::text, $2, '\\x00'::bytea) returning id""",
    ),
    "inbound_deliveries": Seed(
        "event_key",
        """insert into inbound_deliveries (tenant_id, channel_account_id, provider, kind, event_key,
                                           provider_message_id, item)
           values ($1, $3, 'whatsapp_cloud', 'message', $2, $2, '{}') returning id""",
        ("channel_accounts",),
    ),
    "outbound_deliveries": Seed(
        "idempotency_key",
        """insert into outbound_deliveries (tenant_id, thread_id, message_id, channel_account_id, idempotency_key,
                                            recipient, content)
           values ($1, $3, $4, $5, $2, '+5511999990000', '{"kind": "text", "text": "oi"}') returning id""",
        ("threads", "messages", "channel_accounts"),
    ),
    "thread_notes": Seed(
        "body",
        "insert into thread_notes (tenant_id, thread_id, author, body) values ($1, $3, 'user-1', $2) returning id",
        ("threads",),
    ),
    # 0003 knowledge
    "rag_jobs": Seed(
        "model",
        """insert into rag_jobs (tenant_id, space_id, doc_id, model) values ($1, $3, $4, $2) returning id""",
        ("kb_spaces", "kb_docs"),
    ),
    # 0011 privacy
    "privacy_requests": Seed(
        "requested_by",
        """insert into privacy_requests (tenant_id, kind, subject, subject_hashes, identifier_kinds, requested_by)
           values ($1, 'export', '{"email": "maria@example.com"}', array[md5($2::text)], array['email'], $2)
           returning id""",
    ),
    # 0012 ads
    "ad_accounts": Seed(
        "name",
        """insert into ad_accounts (tenant_id, platform, external_id, name, secrets)
           values ($1, 'meta', 'act_' || md5($2::text), $2, '\\x00'::bytea) returning id""",
    ),
    "ad_policies": Seed(
        "updated_by",
        """insert into ad_policies (tenant_id, daily_cap_minor, monthly_cap_minor, updated_by)
           values ($1, 10000, 300000, $2)""",
    ),
    "ad_objects": Seed(
        "name",
        """insert into ad_objects (tenant_id, account_id, platform, level, external_id, name, status,
                                   daily_budget_minor)
           values ($1, $3, 'meta', 'campaign', md5($2::text), $2, 'paused', 5000) returning id""",
        ("ad_accounts",),
    ),
    "ad_changes": Seed(
        "requested_by",
        """insert into ad_changes (tenant_id, account_id, object_id, kind, requested_by, idempotency_key, params)
           values ($1, $3, $4, 'set_budget', $2, $2, '{"daily_budget_minor": 6000}') returning id""",
        ("ad_accounts", "ad_objects"),
    ),
    "ad_metrics_daily": Seed(
        "external_id",
        """insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, day, impressions,
                                         clicks, spend_minor)
           values ($1, $3, 'meta', 'campaign', $2, current_date, 1000, 20, 3500) returning id""",
        ("ad_accounts",),
    ),
    "ad_sync_runs": Seed(
        "error",
        """insert into ad_sync_runs (tenant_id, account_id, since, until, error)
           values ($1, $3, current_date, current_date, $2) returning id""",
        ("ad_accounts",),
    ),
    "ad_rules": Seed(
        "name",
        "insert into ad_rules (tenant_id, name, kind, params) values ($1, $2, 'stop_loss', '{}') returning id",
    ),
    "lead_attribution": Seed(
        "click_id",
        """insert into lead_attribution (tenant_id, lead_id, platform, campaign_external_id, click_id_kind, click_id)
           values ($1, $3, 'meta', '120210000000001', 'fbclid', $2)
           on conflict (tenant_id, lead_id) do update set click_id = excluded.click_id returning id""",
        ("leads",),
    ),
    "ad_conversions": Seed(
        "event_id",
        """insert into ad_conversions (tenant_id, account_id, platform, event_id, kind, lead_id, value_minor,
                                       occurred_at)
           values ($1, $3, 'meta', $2, 'purchase', $4, 19900, now()) returning id""",
        ("ad_accounts", "leads"),
    ),
    "visitor_touches": Seed(
        "visitor_id",
        """insert into visitor_touches (tenant_id, channel_account_id, visitor_id, touch)
           values ($1, $3, $2, '{"utm": {"utm_source": "facebook"}}') returning id""",
        ("channel_accounts",),
    ),
    "lead_suppressions": Seed(
        "reason",
        """insert into lead_suppressions (tenant_id, lead_id, kind, reason) values ($1, $3, 'customer', $2)
           on conflict (tenant_id, lead_id, kind) do update set reason = excluded.reason returning id""",
        ("leads",),
    ),
    "event_log": Seed("type", "insert into event_log (tenant_id, type, payload) values ($1, $2, '{}') returning id"),
    "processed_events": Seed(
        "consumer",
        "insert into processed_events (tenant_id, consumer, event_id) values ($1, $2, gen_random_uuid())",
    ),
    "ai_budgets": Seed(
        "updated_by",
        "insert into ai_budgets (tenant_id, monthly_limit_usd, updated_by) values ($1, 25, $2)",
    ),
    "audit_logs": Seed(
        "action", "insert into audit_logs (tenant_id, actor, action) values ($1, 'user-1', $2) returning id"
    ),
    "error_logs": Seed(
        "message",
        "insert into error_logs (tenant_id, source, code, message) values ($1, 'asaas', 'timeout', $2) returning id",
    ),
}


@dataclass
class Seeded:
    """The rows seeded into one tenant: marker and id (None for id-less tables) per table."""

    tenant_id: TenantId
    markers: dict[str, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def parent_ids(self, table: str) -> list[Any]:
        return [self.ids[p] for p in SEEDS[table].parents]


def new_marker(table: str, label: str) -> str:
    return f"{table}-{label}-{secrets.token_hex(4)}"


async def seed_tenant(pool: asyncpg.Pool, label: str) -> Seeded:
    """A new tenant with one row in every table of ``SEEDS``, written as the app would."""
    tenant_id = await create_tenant(pool, f"rls-{label}-{secrets.token_hex(4)}", f"RLS {label}")
    seeded = Seeded(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        for table, seed in SEEDS.items():
            marker = new_marker(table, label)
            seeded.ids[table] = await conn.fetchval(seed.sql, tenant_id, marker, *seeded.parent_ids(table))
            seeded.markers[table] = marker
    return seeded


async def tenant_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """select c.relname from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
           where n.nspname = 'public' and c.relkind in ('r', 'p')
           order by c.relname"""
    )
    return [r["relname"] for r in rows]


@pytest.fixture(scope="module")
async def two_tenants(app_pool: asyncpg.Pool) -> tuple[Seeded, Seeded]:
    return await seed_tenant(app_pool, "a"), await seed_tenant(app_pool, "b")


async def test_every_tenant_table_has_a_seed(owner_pool: asyncpg.Pool) -> None:
    async with owner_pool.acquire() as conn:
        tables = await tenant_tables(conn)
    assert len(tables) >= len(SEEDS) - 1, tables  # the catalog query itself is not broken
    missing = sorted(set(tables) - set(SEEDS))
    assert not missing, (
        f"tables with tenant_id but no seed in tests/integration/test_rls_catalog.py SEEDS: {missing}; "
        "add a realistic insert so their isolation is tested"
    )
    stale = sorted(set(SEEDS) - set(tables))
    assert not stale, f"SEEDS names tables that no longer have tenant_id: {stale}"


async def test_every_tenant_table_has_forced_rls_and_a_policy(owner_pool: asyncpg.Pool) -> None:
    async with owner_pool.acquire() as conn:
        tables = await tenant_tables(conn)
        rows = await conn.fetch(
            """select c.relname, c.relrowsecurity, c.relforcerowsecurity,
                      (select count(*) from pg_policies p
                       where p.schemaname = 'public' and p.tablename = c.relname) as policies
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relname = any($1::text[])""",
            tables,
        )
    by_name = {r["relname"]: r for r in rows}
    assert set(by_name) == set(tables)
    not_enabled = [t for t in tables if not by_name[t]["relrowsecurity"]]
    not_forced = [t for t in tables if not by_name[t]["relforcerowsecurity"]]
    no_policy = [t for t in tables if by_name[t]["policies"] == 0]
    assert not not_enabled, f"row level security not enabled on {not_enabled}"
    assert not not_forced, f"row level security not forced on {not_forced}"
    assert not no_policy, f"no policy (default deny hides a missing one) on {no_policy}"


async def test_app_policies_filter_by_tenant(owner_pool: asyncpg.Pool) -> None:
    """No policy that reaches the app role is ``USING (true)`` or forgets the tenant."""
    async with owner_pool.acquire() as conn:
        tables = await tenant_tables(conn)
        rows = await conn.fetch(
            """select tablename, policyname, cmd, qual, with_check from pg_policies
               where schemaname = 'public' and tablename = any($1::text[])
                 and roles && array['public', $2]::name[]""",
            tables,
            APP_ROLE,
        )
    covered = {r["tablename"] for r in rows}
    assert covered == set(tables), f"tables without a policy for the app role: {sorted(set(tables) - covered)}"
    # The one documented exception: a principal reads (only reads) its own memberships.
    exceptions = {
        ("memberships", "own_memberships_read", "SELECT", "(user_id = ( SELECT app_user_id() AS app_user_id))")
    }
    for r in rows:
        where = f"{r['tablename']}.{r['policyname']}"
        if (r["tablename"], r["policyname"], r["cmd"], r["qual"]) in exceptions:
            continue
        if r["cmd"] != "INSERT":
            assert r["qual"] and "app_tenant_id()" in r["qual"], f"{where} USING does not filter by tenant: {r['qual']}"
        if r["with_check"] is not None:
            assert "app_tenant_id()" in r["with_check"], f"{where} WITH CHECK ignores the tenant: {r['with_check']}"


@pytest.mark.parametrize("role", [APP_ROLE, RELAY_ROLE])
async def test_login_role_cannot_bypass_rls_or_own_objects(owner_pool: asyncpg.Pool, role: str) -> None:
    async with owner_pool.acquire() as conn:
        attrs = await conn.fetchrow(
            "select rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = $1", role
        )
        owned = await conn.fetch(
            """select 'relation' as kind, c.relname as name from pg_class c
                 join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = 'public' and pg_get_userbyid(c.relowner) = $1
               union all
               select 'function', p.proname from pg_proc p
                 join pg_namespace n on n.oid = p.pronamespace
                 where n.nspname = 'public' and pg_get_userbyid(p.proowner) = $1
               union all
               select 'schema', nspname from pg_namespace where pg_get_userbyid(nspowner) = $1""",
            role,
        )
        member_of = await conn.fetch(
            """select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid
               where m.member = (select oid from pg_roles where rolname = $1)""",
            role,
        )
        can_create = await conn.fetchval("select has_schema_privilege($1, 'public', 'CREATE')", role)
    assert attrs is not None, f"role {role} missing"
    assert attrs["rolsuper"] is False, f"{role} is superuser"
    assert attrs["rolbypassrls"] is False, f"{role} has BYPASSRLS"
    assert attrs["rolcreaterole"] is False, f"{role} has CREATEROLE"
    assert owned == [], f"{role} owns objects (owners can disable RLS): {[tuple(r) for r in owned]}"
    assert member_of == [], f"{role} inherits other roles: {[r['rolname'] for r in member_of]}"
    # A role that may CREATE in public could create a table it owns, outside every policy.
    assert can_create is False, f"{role} may create objects in schema public"


async def test_relay_role_touches_event_log_only(owner_pool: asyncpg.Pool, migrated: Infra) -> None:
    async with owner_pool.acquire() as conn:
        rows = await conn.fetch(
            """select c.relname,
                      has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                        as table_priv,
                      has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES') as column_priv
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')""",
            RELAY_ROLE,
        )
        event_log = await conn.fetchrow(
            """select has_table_privilege($1, 'event_log', 'INSERT') as ins,
                      has_table_privilege($1, 'event_log', 'DELETE') as del,
                      has_table_privilege($1, 'event_log', 'TRUNCATE') as trunc,
                      has_column_privilege($1, 'event_log', 'payload', 'UPDATE') as upd_payload,
                      has_column_privilege($1, 'event_log', 'published_at', 'UPDATE') as upd_published""",
            RELAY_ROLE,
        )
    leaks = [r["relname"] for r in rows if r["relname"] != "event_log" and (r["table_priv"] or r["column_priv"])]
    assert not leaks, f"the relay role has privileges beyond event_log: {leaks}"
    assert event_log is not None
    assert dict(event_log) == {
        "ins": False,
        "del": False,
        "trunc": False,
        "upd_payload": False,
        "upd_published": True,
    }
    relay = await asyncpg.connect(migrated.relay_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await relay.fetchval("select count(*) from leads")
    finally:
        await relay.close()


async def test_no_tenant_context_sees_no_rows_in_any_table(
    two_tenants: tuple[Seeded, Seeded], app_pool: asyncpg.Pool, owner_pool: asyncpg.Pool, migrated: Infra
) -> None:
    a, b = two_tenants
    async with owner_pool.acquire() as conn:
        tables = await tenant_tables(conn)
    unseeded = sorted(set(tables) - set(a.markers))
    assert not unseeded, f"add a seed to SEEDS for {unseeded}"
    # The seeds are there: each tenant sees its own row in every table.
    for seeded in (a, b):
        async with tenant_tx(app_pool, seeded.tenant_id) as conn:
            for table in tables:
                col = SEEDS[table].column
                n = await conn.fetchval(f"select count(*) from {table} where {col} = $1", seeded.markers[table])
                assert n == 1, f"{table}: tenant sees {n} of its own seeded rows"
    # A fresh connection that never had context, and a pooled one that had it before.
    fresh = await asyncpg.connect(migrated.app_url)
    try:
        for table in tables:
            async with fresh.transaction():
                n = await fresh.fetchval(f"select count(*) from {table}")
            assert n == 0, f"{table}: the app role without tenant context sees {n} rows"
    finally:
        await fresh.close()
    async with app_pool.acquire() as conn:
        for table in tables:
            n = await conn.fetchval(f"select count(*) from {table}")
            assert n == 0, f"{table}: a pooled connection without tenant context sees {n} rows"


async def test_no_tenant_context_cannot_insert_into_any_table(
    two_tenants: tuple[Seeded, Seeded], migrated: Infra
) -> None:
    a, _ = two_tenants
    conn = await asyncpg.connect(migrated.app_url)
    accepted: list[str] = []
    try:
        for table, seed in SEEDS.items():
            try:
                async with conn.transaction():
                    await conn.execute(seed.sql, a.tenant_id, new_marker(table, "nocontext"), *a.parent_ids(table))
            except asyncpg.InsufficientPrivilegeError as exc:
                assert "row-level security" in str(exc), f"{table}: rejected for another reason: {exc}"
            else:
                accepted.append(table)
    finally:
        await conn.close()
    assert not accepted, f"inserts without tenant context were accepted into {accepted}"
