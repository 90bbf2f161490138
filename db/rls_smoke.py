"""A live multi-tenant isolation check, run through the application role.

Creates two throwaway tenants, writes a lead in A, then checks from B's context and from
no context that nothing of A can be read, changed or forged; always cleans up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import asyncpg

from core.tenancy import TenantId

from .pool import tenant_tx
from .tenants import create_tenant, delete_tenant


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


async def run_rls_smoke(pool: asyncpg.Pool) -> list[Check]:
    suffix = secrets.token_hex(4)
    a = await create_tenant(pool, f"rls-smoke-a-{suffix}", "RLS smoke A")
    b = await create_tenant(pool, f"rls-smoke-b-{suffix}", "RLS smoke B")
    checks: list[Check] = []
    try:
        async with tenant_tx(pool, a) as conn:
            lead_id = await conn.fetchval("insert into leads (tenant_id, name) values ($1, 'smoke') returning id", a)
        checks.append(await _cross_read(pool, b, lead_id))
        checks.append(await _cross_update(pool, b, lead_id))
        checks.append(await _cross_delete(pool, b, lead_id))
        checks.append(await _forged_insert(pool, b, a))
        checks.append(await _no_context_read(pool))
        checks.append(await _no_context_write(pool, a))
        checks.append(await _owner_still_sees(pool, a, lead_id))
    finally:
        await delete_tenant(pool, a)
        await delete_tenant(pool, b)
    return checks


async def _cross_read(pool: asyncpg.Pool, b: TenantId, lead_id: object) -> Check:
    async with tenant_tx(pool, b) as conn:
        n = await conn.fetchval("select count(*) from leads where id = $1", lead_id)
    return Check("cross_tenant_read", n == 0, f"tenant B sees {n} of tenant A's leads")


async def _cross_update(pool: asyncpg.Pool, b: TenantId, lead_id: object) -> Check:
    async with tenant_tx(pool, b) as conn:
        status = await conn.execute("update leads set name = 'pwned' where id = $1", lead_id)
    return Check("cross_tenant_update", status == "UPDATE 0", f"tenant B update: {status}")


async def _cross_delete(pool: asyncpg.Pool, b: TenantId, lead_id: object) -> Check:
    async with tenant_tx(pool, b) as conn:
        status = await conn.execute("delete from leads where id = $1", lead_id)
    return Check("cross_tenant_delete", status == "DELETE 0", f"tenant B delete: {status}")


async def _forged_insert(pool: asyncpg.Pool, b: TenantId, a: TenantId) -> Check:
    try:
        async with tenant_tx(pool, b) as conn:
            await conn.execute("insert into leads (tenant_id, name) values ($1, 'forged')", a)
    except asyncpg.InsufficientPrivilegeError as exc:
        return Check("cross_tenant_insert", True, f"rejected: {exc.sqlstate}")
    return Check("cross_tenant_insert", False, "tenant B inserted a row into tenant A")


async def _no_context_read(pool: asyncpg.Pool) -> Check:
    async with pool.acquire() as conn, conn.transaction():
        n = await conn.fetchval("select count(*) from leads")
    return Check("no_context_read", n == 0, f"no tenant context sees {n} leads")


async def _no_context_write(pool: asyncpg.Pool, a: TenantId) -> Check:
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("insert into leads (tenant_id, name) values ($1, 'no-context')", a)
    except asyncpg.InsufficientPrivilegeError as exc:
        return Check("no_context_write", True, f"rejected: {exc.sqlstate}")
    return Check("no_context_write", False, "a write without tenant context succeeded")


async def _owner_still_sees(pool: asyncpg.Pool, a: TenantId, lead_id: object) -> Check:
    async with tenant_tx(pool, a) as conn:
        name = await conn.fetchval("select name from leads where id = $1", lead_id)
    return Check("own_tenant_intact", name == "smoke", f"tenant A's lead name is {name!r}")


__all__ = ["Check", "run_rls_smoke"]
