"""Bearer tokens minted by the command line (``tridium token``) for local and demo use.

A token is for one *user*; what it may reach is that user's memberships. So "tenant B's
token" must be for a user of B alone: by default each tenant gets its own owner user,
``owner@{slug}.tridium.local``, created on first use, never the demo owner (who would then
hold a membership in B and carry it back to every other tenant it belongs to). The result
says which user and role the token is for, and where else that user is a member.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from core.settings import Settings
from core.tenancy import ROLES, TenantId
from db.tenants import get_tenant_by_slug, memberships_of, upsert_membership
from serve.auth import mint_token

from .launcher import demo_user_id


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    tenant_id: TenantId
    tenant_slug: str
    user_id: str
    email: str
    role: str
    #: (slug, role) of the user's memberships in *other* tenants: the token reaches them too.
    also_member_of: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        line = f"token for {self.email} (user {self.user_id}), role {self.role} in tenant {self.tenant_slug}"
        if self.also_member_of:
            others = ", ".join(f"{slug} ({role})" for slug, role in self.also_member_of)
            line += f"; this user is also a member of: {others} — the token works there too"
        return line


def tenant_owner_email(slug: str) -> str:
    """The per-tenant owner user the CLI creates when no ``--user`` is given."""
    return f"owner@{slug}.tridium.local"


async def issue_token(
    pool: asyncpg.Pool,
    settings: Settings,
    tenant_slug: str,
    *,
    email: str | None = None,
    role: str = "owner",
    ttl_s: int = 7 * 24 * 3600,
) -> IssuedToken:
    """Ensure ``email`` (default: the tenant's own owner user) is a member of the tenant
    with ``role`` and mint a token for that user."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    tenant_id = await get_tenant_by_slug(pool, tenant_slug)
    if tenant_id is None:
        raise LookupError(f"no tenant with slug {tenant_slug!r} (create it with: tridium tenant create)")
    user_email = (email or tenant_owner_email(tenant_slug)).strip().lower()
    user_id = demo_user_id(user_email)
    await upsert_membership(pool, tenant_id, user_id, user_email, role)
    others = tuple((m.slug, m.role) for m in await memberships_of(pool, user_id) if m.tenant_id != tenant_id)
    token = mint_token(settings, user_id=user_id, email=user_email, ttl_s=ttl_s)
    return IssuedToken(token, tenant_id, tenant_slug, user_id, user_email, role, others)


__all__ = ["IssuedToken", "issue_token", "tenant_owner_email"]
