"""FastAPI dependencies: state, principal, tenant context, idempotency.

The tenant is resolved once here — from ``X-Tenant-Id`` (uuid or slug), else the first
label of ``Host`` — checked against the principal's memberships, and passed explicitly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from core.errors import Forbidden, IdempotencyKeyMissing, Unauthorized, ValidationFailed
from core.logging import tenant_id_var
from core.tenancy import Principal, TenantContext
from db import idempotency
from db.pool import tenant_tx
from db.tenants import resolve_membership

from .state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.tridium
    return state


State = Annotated[AppState, Depends(get_state)]


def get_principal(request: Request) -> Principal:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        raise Unauthorized("missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def _tenant_ref(request: Request, header: str | None) -> str:
    if header:
        return header.strip()
    host = (request.headers.get("host") or "").split(":")[0]
    labels = host.split(".")
    # "{slug}.app.example" → slug; bare hosts (localhost, 127.0.0.1) carry no tenant.
    if len(labels) >= 3 and not host.replace(".", "").isdigit():
        return labels[0]
    raise Forbidden("no tenant: send X-Tenant-Id (uuid or slug) or use the tenant's subdomain")


async def get_tenant(
    request: Request,
    state: State,
    principal: CurrentPrincipal,
    x_tenant_id: Annotated[str | None, Header(description="Tenant uuid or slug")] = None,
) -> TenantContext:
    ref = _tenant_ref(request, x_tenant_id)
    if len(ref) > 64:
        raise Forbidden("unknown tenant")
    key = (principal.user_id, ref)
    cached, membership = state.memberships.get(key)
    if not cached:
        membership = await resolve_membership(state.pool, principal.user_id, ref)
        state.memberships.put(key, membership)
    if membership is None:
        raise Forbidden("you are not a member of this tenant", details={"tenant": ref})
    tenant_id_var.set(str(membership.tenant_id))
    return TenantContext(membership.tenant_id, membership.slug, principal, membership.role)


Tenant = Annotated[TenantContext, Depends(get_tenant)]


def require_admin(ctx: Tenant) -> TenantContext:
    if not ctx.is_admin:
        raise Forbidden("this route needs the admin or owner role", details={"role": ctx.role})
    return ctx


AdminTenant = Annotated[TenantContext, Depends(require_admin)]


def require_auditor(ctx: Tenant) -> TenantContext:
    if not ctx.may_audit:
        raise Forbidden("this route needs the auditor, admin or owner role", details={"role": ctx.role})
    return ctx


AuditTenant = Annotated[TenantContext, Depends(require_auditor)]


class IdempotentCall:
    """Runs a handler once per Idempotency-Key; replays the stored response otherwise."""

    def __init__(self, state: AppState, ctx: TenantContext, key: str, method: str, path: str, request_hash: str):
        self._state, self._ctx, self._key = state, ctx, key
        self._method, self._path, self._hash = method, path, request_hash

    async def respond(self, status_code: int, handler: Callable[[asyncpg.Connection], Awaitable[Any]]) -> JSONResponse:
        settings = self._state.settings
        outcome = await idempotency.acquire(
            self._state.pool,
            self._ctx.tenant_id,
            self._ctx.principal.user_id,
            self._key,
            method=self._method,
            path=self._path,
            request_hash=self._hash,
            ttl=timedelta(hours=settings.idempotency_ttl_h),
            lock_timeout=timedelta(seconds=settings.idempotency_lock_timeout_s),
        )
        if isinstance(outcome, idempotency.Replay):
            return JSONResponse(outcome.body, status_code=outcome.status, headers={"Idempotent-Replayed": "true"})
        try:
            async with tenant_tx(self._state.pool, self._ctx.tenant_id) as conn:
                body = jsonable_encoder(await handler(conn))
                await outcome.complete(conn, status_code, body)
        except BaseException:
            await idempotency.release(self._state.pool, outcome)
            raise
        return JSONResponse(body, status_code=status_code)


def _canonical(body: bytes) -> bytes:
    """The same JSON with other whitespace or key order is the same request."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        return body


async def get_idempotent_call(
    request: Request,
    state: State,
    ctx: Tenant,
    idempotency_key: Annotated[
        str | None, Header(description="Required: retries with the same key replay the first response")
    ] = None,
) -> IdempotentCall:
    if idempotency_key is None or not idempotency_key.strip():
        raise IdempotencyKeyMissing("this route requires an Idempotency-Key header")
    key = idempotency_key.strip()
    if len(key) > 255:
        raise ValidationFailed(
            "Idempotency-Key is longer than 255 characters",
            details=[{"loc": ["header", "Idempotency-Key"], "msg": "at most 255 characters"}],
        )
    digest = hashlib.sha256(_canonical(await request.body())).hexdigest()
    return IdempotentCall(state, ctx, key, request.method, request.url.path, digest)


Idempotent = Annotated[IdempotentCall, Depends(get_idempotent_call)]

__all__ = [
    "AdminTenant",
    "AuditTenant",
    "CurrentPrincipal",
    "Idempotent",
    "IdempotentCall",
    "State",
    "Tenant",
    "get_state",
]
