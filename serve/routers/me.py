"""``GET /me``: profile, memberships with roles, feature flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from db.tenants import memberships_of

from ..deps import CurrentPrincipal, State
from ..schemas import Me, MembershipOut

router = APIRouter(tags=["core"])


@router.get("/me", response_model=Me)
async def me(
    state: State,
    principal: CurrentPrincipal,
    x_tenant_id: Annotated[str | None, Header()] = None,
) -> Me:
    rows = await memberships_of(state.pool, principal.user_id)
    memberships = [
        MembershipOut(tenant_id=m.tenant_id, slug=m.slug, name=m.name, role=m.role, feature_flags=m.feature_flags)
        for m in rows
    ]
    current = None
    if x_tenant_id:
        ref = x_tenant_id.strip().lower()
        current = next((m for m in memberships if m.slug == ref or str(m.tenant_id) == ref), None)
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        memberships=memberships,
        tenant=current,
        feature_flags=current.feature_flags if current else {},
    )
