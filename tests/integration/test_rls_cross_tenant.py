"""Cross-tenant CRUD through the app role (test matrix I2): tenant B's context can neither
see, change, delete nor forge tenant A's rows in any tenant table, and foreign keys cannot
point across tenants. Plus the memberships policy and the live ``/admin/rls/test`` route."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from db.pool import principal_tx, tenant_tx
from db.tenants import create_tenant, upsert_membership

from .conftest import MakeMember
from .test_rls_catalog import SEEDS, Seeded, new_marker, seed_tenant

TABLES = list(SEEDS)
CHILD_TABLES = [t for t, s in SEEDS.items() if s.parents]


@pytest.fixture(scope="module")
async def tenants_ab(app_pool: asyncpg.Pool) -> tuple[Seeded, Seeded]:
    return await seed_tenant(app_pool, "xa"), await seed_tenant(app_pool, "xb")


async def _row_of(pool: asyncpg.Pool, owner: Seeded, table: str) -> list[str]:
    """Tenant A's own view of its seeded row (the marker column's current values)."""
    col = SEEDS[table].column
    async with tenant_tx(pool, owner.tenant_id) as conn:
        rows = await conn.fetch(f"select {col} from {table} where {col} = $1", owner.markers[table])
    return [r[0] for r in rows]


@pytest.mark.parametrize("table", TABLES)
async def test_other_tenant_cannot_read_change_or_delete(
    table: str, tenants_ab: tuple[Seeded, Seeded], app_pool: asyncpg.Pool
) -> None:
    a, b = tenants_ab
    col = SEEDS[table].column
    marker = a.markers[table]
    assert await _row_of(app_pool, a, table) == [marker]
    async with tenant_tx(app_pool, b.tenant_id) as conn:
        # Naming the tenant explicitly does not help either.
        seen = await conn.fetchval(
            f"select count(*) from {table} where {col} = $1 or tenant_id = $2", marker, a.tenant_id
        )
        updated = await conn.execute(f"update {table} set {col} = 'pwned' where {col} = $1", marker)
        deleted = await conn.execute(f"delete from {table} where tenant_id = $1", a.tenant_id)
    assert seen == 0, f"tenant B sees {seen} of A's {table} rows"
    assert updated == "UPDATE 0"
    assert deleted == "DELETE 0"
    assert await _row_of(app_pool, a, table) == [marker], f"A's {table} row changed"


@pytest.mark.parametrize("table", TABLES)
async def test_other_tenant_cannot_insert_with_foreign_tenant_id(
    table: str, tenants_ab: tuple[Seeded, Seeded], app_pool: asyncpg.Pool
) -> None:
    a, b = tenants_ab
    forged = new_marker(table, "forged")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_tx(app_pool, b.tenant_id) as conn:
            await conn.execute(SEEDS[table].sql, a.tenant_id, forged, *a.parent_ids(table))
    assert await _row_of(app_pool, a, table) == [a.markers[table]]
    col = SEEDS[table].column
    async with tenant_tx(app_pool, a.tenant_id) as conn:
        assert await conn.fetchval(f"select count(*) from {table} where {col} = $1", forged) == 0


@pytest.mark.parametrize("table", TABLES)
async def test_own_row_cannot_be_moved_to_another_tenant(
    table: str, tenants_ab: tuple[Seeded, Seeded], app_pool: asyncpg.Pool
) -> None:
    a, b = tenants_ab
    col = SEEDS[table].column
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_tx(app_pool, b.tenant_id) as conn:
            await conn.execute(f"update {table} set tenant_id = $1 where {col} = $2", a.tenant_id, b.markers[table])
    assert await _row_of(app_pool, b, table) == [b.markers[table]]


@pytest.mark.parametrize("table", CHILD_TABLES)
async def test_foreign_keys_cannot_cross_tenants(
    table: str, tenants_ab: tuple[Seeded, Seeded], app_pool: asyncpg.Pool
) -> None:
    """A row of B pointing at A's parent (e.g. a deal on A's lead) is refused."""
    a, b = tenants_ab
    # Sanity: the same insert with B's own parents is accepted (rolled back).
    ok = tenant_tx(app_pool, b.tenant_id)
    with pytest.raises(_Rollback):
        async with ok as conn:
            await conn.execute(SEEDS[table].sql, b.tenant_id, new_marker(table, "ok"), *b.parent_ids(table))
            raise _Rollback
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with tenant_tx(app_pool, b.tenant_id) as conn:
            await conn.execute(SEEDS[table].sql, b.tenant_id, new_marker(table, "fk"), *a.parent_ids(table))


class _Rollback(Exception):
    pass


async def test_principal_reads_only_own_memberships(app_pool: asyncpg.Pool) -> None:
    t1 = await create_tenant(app_pool, f"memb-1-{uuid.uuid4().hex[:8]}", "M1")
    t2 = await create_tenant(app_pool, f"memb-2-{uuid.uuid4().hex[:8]}", "M2")
    me, other = f"user-{uuid.uuid4()}", f"user-{uuid.uuid4()}"
    await upsert_membership(app_pool, t1, me, None, "member")
    await upsert_membership(app_pool, t2, me, None, "viewer")
    await upsert_membership(app_pool, t1, other, None, "owner")
    async with principal_tx(app_pool, me) as conn:
        rows = await conn.fetch("select tenant_id, user_id, role from memberships")
        leads = await conn.fetchval("select count(*) from leads")
    assert {(r["tenant_id"], r["user_id"], r["role"]) for r in rows} == {(t1, me, "member"), (t2, me, "viewer")}
    assert leads == 0, "principal context must not open tenant data"
    # Without tenant context a principal can read its memberships but not change them:
    # no promotion, no leaving (deleting), no joining.
    async with principal_tx(app_pool, me) as conn:
        assert await conn.execute("update memberships set role = 'owner' where user_id = $1", me) == "UPDATE 0"
        assert await conn.execute("delete from memberships where user_id = $1", me) == "DELETE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with principal_tx(app_pool, me) as conn:
            await conn.execute(
                "insert into memberships (tenant_id, user_id, role) values ($1, $2, 'owner')", t1, f"x-{me}"
            )
    async with tenant_tx(app_pool, t1) as conn:
        role = await conn.fetchval("select role from memberships where user_id = $1", me)
    assert role == "member"


async def _smoke_tenants(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval("select count(*) from tenants where slug like 'rls-smoke-%'")
    return n


async def test_admin_rls_route_passes_and_cleans_up(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    admin = await make_member(role="admin")
    before = await _smoke_tenants(app_pool)
    r = await client.post("/admin/rls/test", headers=admin.headers())
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["passed"] is True
    names = {c["name"] for c in report["checks"]}
    assert {
        "cross_tenant_read",
        "cross_tenant_update",
        "cross_tenant_delete",
        "cross_tenant_insert",
        "no_context_read",
        "no_context_write",
    } <= names
    failed = [c for c in report["checks"] if not c["passed"]]
    assert not failed, failed
    assert await _smoke_tenants(app_pool) == before == 0, "throwaway tenants were left behind"


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_admin_rls_route_refuses_non_admins(
    client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool, role: str
) -> None:
    m = await make_member(role=role)
    r = await client.post("/admin/rls/test", headers=m.headers())
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert await _smoke_tenants(app_pool) == 0
