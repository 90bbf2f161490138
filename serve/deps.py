"""FastAPI dependencies: state, principal, tenant context, idempotency.

The tenant is resolved once here — from ``X-Tenant-Id`` (uuid or slug), else the first
label of ``Host`` — checked against the principal's memberships, and passed explicitly.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from core.errors import Forbidden, IdempotencyKeyMissing, Unauthorized, ValidationFailed
from core.logging import tenant_id_var
from core.tenancy import Principal, TenantContext
from db import idempotency
from db.pool import tenant_tx
from db.tenants import resolve_membership

from .state import AppState


# Dependencies are ``async def`` even when they await nothing: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request for a dictionary lookup.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.tridium
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_principal(request: Request) -> Principal:
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


async def require_admin(ctx: Tenant) -> TenantContext:
    if not ctx.is_admin:
        raise Forbidden("this route needs the admin or owner role", details={"role": ctx.role})
    return ctx


AdminTenant = Annotated[TenantContext, Depends(require_admin)]


def require_auditor(ctx: Tenant) -> TenantContext:
    if not ctx.may_audit:
        raise Forbidden("this route needs the auditor, admin or owner role", details={"role": ctx.role})
    return ctx


AuditTenant = Annotated[TenantContext, Depends(require_auditor)]


# Headers that describe the representation and are replayed with it; per-request headers
# (x-request-id, rate limit, content-length) are the edge's and are set anew each time.
_REPLAYED_HEADERS = frozenset({"content-type", "content-language", "location"})


@functools.lru_cache(maxsize=256)
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def render_json(content: Any, response_model: Any = None) -> JSONResponse:
    """The response FastAPI would send for ``content`` from a route with ``response_model``:
    validated against the model (extra keys dropped) and serialised in JSON mode (so a
    Decimal is the string the OpenAPI document promises), or plainly JSON-encoded."""
    if response_model is not None:
        adapter = _adapter(response_model)
        payload = adapter.dump_python(adapter.validate_python(content, from_attributes=True), mode="json")
    else:
        payload = jsonable_encoder(content)
    return JSONResponse(payload)


class IdempotentCall:
    """Runs a handler once per Idempotency-Key; replays the stored response otherwise.

    The first response is rendered once (through the route's response model, like any
    other route) and its exact bytes, status and representation headers are stored with
    the change; a replay sends those bytes back unchanged, plus ``Idempotent-Replayed``.
    """

    def __init__(
        self,
        state: AppState,
        ctx: TenantContext,
        key: str,
        method: str,
        path: str,
        request_hash: str,
        *,
        response_model: Any = None,
    ):
        self._state, self._ctx, self._key = state, ctx, key
        self._method, self._path, self._hash = method, path, request_hash
        self._response_model = response_model

    async def respond(self, status_code: int, handler: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Response:
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
            return _replay(outcome)
        try:
            async with tenant_tx(self._state.pool, self._ctx.tenant_id) as conn:
                response = render_json(await handler(conn), self._response_model)
                response.status_code = status_code
                kept = [(k, v) for k, v in _headers(response) if k in _REPLAYED_HEADERS]
                await outcome.complete(conn, status_code, bytes(response.body), kept)
        except BaseException:
            await idempotency.release(self._state.pool, outcome)
            raise
        return response


def _headers(response: Response) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.raw_headers]


def _replay(stored: idempotency.Replay) -> Response:
    if stored.content is None:  # stored before migration 0006: only the jsonb body exists
        return JSONResponse(stored.body, status_code=stored.status, headers={"Idempotent-Replayed": "true"})
    headers = dict(stored.headers) | {"Idempotent-Replayed": "true"}
    media_type = headers.pop("content-type", None)
    return Response(stored.content, status_code=stored.status, headers=headers, media_type=media_type)


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
    route = request.scope.get("route")
    model = route.response_model if isinstance(route, APIRoute) else None
    return IdempotentCall(state, ctx, key, request.method, request.url.path, digest, response_model=model)


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
    "render_json",
]
