"""Tenancy types. A tenant is a required, typed value: never optional, never a bare str."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType
from uuid import UUID

TenantId = NewType("TenantId", UUID)

# auditor: reads conversations (masked replay) and costs, writes nothing.
ROLES = ("owner", "admin", "member", "viewer", "auditor")
READ_ONLY_ROLES = frozenset({"viewer", "auditor"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the JWT subject and the claims we use."""

    user_id: str
    email: str | None = None
    token_fingerprint: str = ""  # sha256 of the raw token: rate-limit key, never the token
    claims: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class TenantContext:
    """A principal acting inside one tenant with one role, resolved once at the gateway."""

    tenant_id: TenantId
    slug: str
    principal: Principal
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES

    @property
    def may_audit(self) -> bool:
        """Replay conversations and read AI costs: owner, admin or auditor."""
        return self.role in ("owner", "admin", "auditor")


__all__ = ["READ_ONLY_ROLES", "ROLES", "Principal", "TenantContext", "TenantId"]
