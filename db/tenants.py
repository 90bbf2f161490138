"""Tenants and memberships."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict
from core.tenancy import TenantId

from .pool import principal_tx, tenant_tx


@dataclass(frozen=True, slots=True)
class Membership:
    tenant_id: TenantId
    slug: str
    name: str
    role: str
    feature_flags: dict[str, Any]


async def resolve_membership(pool: asyncpg.Pool, user_id: str, tenant_ref: str) -> Membership | None:
    """The principal's membership in the tenant named by uuid or slug, or None."""
    by_id: UUID | None
    try:
        by_id = UUID(tenant_ref)
    except ValueError:
        by_id = None
    async with principal_tx(pool, user_id) as conn:
        row = await conn.fetchrow(
            """select t.id, t.slug, t.name, t.feature_flags, m.role
               from memberships m join tenants t on t.id = m.tenant_id
               where m.user_id = $1 and (t.id = $2 or t.slug = $3)""",
            user_id,
            by_id,
            tenant_ref.lower(),
        )
    if row is None:
        return None
    return Membership(TenantId(row["id"]), row["slug"], row["name"], row["role"], row["feature_flags"])


async def memberships_of(pool: asyncpg.Pool, user_id: str) -> list[Membership]:
    async with principal_tx(pool, user_id) as conn:
        rows = await conn.fetch(
            """select t.id, t.slug, t.name, t.feature_flags, m.role
               from memberships m join tenants t on t.id = m.tenant_id
               where m.user_id = $1 order by t.slug""",
            user_id,
        )
    return [Membership(TenantId(r["id"]), r["slug"], r["name"], r["role"], r["feature_flags"]) for r in rows]


async def create_tenant(pool: asyncpg.Pool, slug: str, name: str) -> TenantId:
    try:
        async with pool.acquire() as conn:
            tid = await conn.fetchval("insert into tenants (slug, name) values ($1, $2) returning id", slug, name)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"tenant slug '{slug}' is taken", details={"slug": slug}) from exc
    return TenantId(tid)


async def get_tenant_by_slug(pool: asyncpg.Pool, slug: str) -> TenantId | None:
    async with pool.acquire() as conn:
        tid = await conn.fetchval("select id from tenants where slug = $1", slug)
    return None if tid is None else TenantId(tid)


async def ensure_tenant(pool: asyncpg.Pool, slug: str, name: str) -> TenantId:
    existing = await get_tenant_by_slug(pool, slug)
    return existing if existing is not None else await create_tenant(pool, slug, name)


async def delete_tenant(pool: asyncpg.Pool, tenant_id: TenantId) -> None:
    async with pool.acquire() as conn:
        await conn.execute("delete from tenants where id = $1", tenant_id)


async def upsert_membership(
    pool: asyncpg.Pool, tenant_id: TenantId, user_id: str, email: str | None, role: str
) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(
            """insert into memberships (tenant_id, user_id, email, role) values ($1, $2, $3, $4)
               on conflict (tenant_id, user_id) do update set email = excluded.email, role = excluded.role""",
            tenant_id,
            user_id,
            email,
            role,
        )


__all__ = [
    "Membership",
    "create_tenant",
    "delete_tenant",
    "ensure_tenant",
    "get_tenant_by_slug",
    "memberships_of",
    "resolve_membership",
    "upsert_membership",
]
