"""Receiving Asaas webhooks: authenticate, store the raw event durably once, acknowledge.

The per-tenant token (sent by Asaas as ``asaas-access-token``) is ``tdm1.<tenant>.<secret>``
(docs/adr/0004-webhook-tenant-from-token.md). The tenant id inside it only says which
tenant's row to check: the whole token's SHA-256 must equal the stored hash (compared with
``hmac.compare_digest``), so a forged or guessed tenant id gains nothing. A wrong token
writes nothing. Malformed bodies from an authenticated sender are recorded in
``error_logs`` and answered 400. Reconciliation happens later, from the outbox event
written in the same transaction as the raw event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Unauthorized
from core.logging import request_id_var
from core.tenancy import TenantId
from db import payments as q
from db.pool import statement_conn, tenant_tx

from .errors import MalformedWebhook

TOKEN_VERSION = "tdm1"
_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,79}$")
_DUMMY_HASH = "0" * 64  # compared against when a tenant has no token: same work either way


def new_webhook_token(tenant_id: TenantId) -> str:
    """A fresh token for ``tenant_id`` (84 characters; Asaas accepts 32..255)."""
    return f"{TOKEN_VERSION}.{tenant_id}.{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tenant_of_token(token: str) -> TenantId:
    """The tenant a token claims to belong to; 401 if it is not shaped like ours."""
    version, _, rest = token.partition(".")
    tenant, _, secret = rest.partition(".")
    if version != TOKEN_VERSION or not secret or len(token) > 255:
        raise Unauthorized("invalid webhook token")
    try:
        return TenantId(UUID(tenant))
    except ValueError:
        raise Unauthorized("invalid webhook token") from None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    event_id: str
    event_type: str
    payment_id: str | None
    payload: dict[str, Any]


def _no_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (Python accepts them; jsonb does not)."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: jsonb could not store what json.dumps makes of it
        raise ValueError("number out of range")
    return value


def parse_event(body: bytes) -> WebhookEvent:
    """Validate the envelope (``id``, ``event``, optional ``payment.id``); MalformedWebhook
    otherwise. Postgres jsonb cannot hold NUL, so ``\\u0000`` anywhere is malformed too, and
    neither text nor jsonb can hold an unpaired surrogate (``\\ud800``), ``NaN``/``Infinity``
    or a number beyond a double; nesting too deep to decode is malformed too."""
    if b"\\u0000" in body:
        raise MalformedWebhook("the body contains NUL characters")
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedWebhook("the body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedWebhook("the body is not a JSON object")
    if b"\\ud" in body or b"\\uD" in body:  # only then can a lone surrogate be in it
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise MalformedWebhook("the body contains an unpaired UTF-16 surrogate") from None
    event_id, event_type = data.get("id"), data.get("event")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 255:
        raise MalformedWebhook("the event has no id", details={"field": "id"})
    if not isinstance(event_type, str) or not _EVENT_NAME.match(event_type):
        raise MalformedWebhook("the event has no valid event name", details={"field": "event"})
    payment = data.get("payment")
    payment_id: str | None = None
    if payment is not None:
        if not isinstance(payment, dict) or not isinstance(payment.get("id"), str) or len(payment["id"]) > 255:
            raise MalformedWebhook("payment.id is missing or invalid", details={"field": "payment.id"})
        payment_id = payment["id"]
    return WebhookEvent(event_id, event_type, payment_id, data)


@dataclass(frozen=True, slots=True)
class Ingested:
    tenant_id: TenantId
    event_id: str
    duplicate: bool


class TokenHashCache:
    """Recently verified token hashes per tenant, so a burst of deliveries costs one read.

    Only a hash that matched is cached; a mismatch always re-reads the database, so a new
    token works at once, while a rotated-out token stays accepted for at most ``ttl_s``.
    One per process (the gateway's lifespan)."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl, self._max = ttl_s, max_entries
        self._data: dict[TenantId, tuple[float, str]] = {}

    def get(self, tenant_id: TenantId) -> str | None:
        hit = self._data.get(tenant_id)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, tenant_id: TenantId, digest: str) -> None:
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[tenant_id] = (time.monotonic() + self._ttl, digest)


async def _authenticate(
    conn: asyncpg.Connection, tenant_id: TenantId, token: str, cache: TokenHashCache | None
) -> None:
    given = token_hash(token)
    cached = cache.get(tenant_id) if cache else None
    if cached is not None and hmac.compare_digest(given, cached):
        return
    stored = await q.webhook_token_hash(conn, tenant_id)
    ok = hmac.compare_digest(given, stored or _DUMMY_HASH)
    if not ok or stored is None:
        raise Unauthorized("invalid webhook token")
    if cache is not None:
        cache.put(tenant_id, stored)


async def ingest(
    pool: asyncpg.Pool,
    token: str | None,
    body: bytes,
    cache: TokenHashCache | None = None,
    *,
    one_call: bool = True,
) -> Ingested:
    """Authenticate and store one delivery; returns once it is committed (then answer 200).

    ``one_call`` (the default, ADR 0008): a well-formed delivery is one autocommit
    statement (``db.payments.ingest_asaas_event``: token check, raw event, outbox event,
    NOTIFY), so one Postgres round trip. ``one_call=False`` keeps the older
    ``tenant_tx`` path (BEGIN, set_config, token read unless ``cache`` holds it, insert,
    COMMIT) for side-by-side benchmarks. Malformed bodies always take that path: the
    sender is authenticated first, then the problem goes to ``error_logs``."""
    if not token:
        raise Unauthorized("missing asaas-access-token")
    tenant_id = tenant_of_token(token)
    problem: MalformedWebhook | None = None
    try:
        event = parse_event(body)
    except MalformedWebhook as exc:
        problem = exc
    if problem is None and one_call:
        async with statement_conn(pool) as conn:
            outcome = await q.ingest_asaas_event(
                conn,
                tenant_id,
                token_hash=token_hash(token),
                event_id=event.event_id,
                event_type=event.event_type,
                payment_id=event.payment_id,
                payload=event.payload,
                request_id=request_id_var.get(),
            )
        if outcome == "unauthorized":
            raise Unauthorized("invalid webhook token")
        return Ingested(tenant_id, event.event_id, duplicate=outcome == "duplicate")
    async with tenant_tx(pool, tenant_id) as conn:
        await _authenticate(conn, tenant_id, token, cache)  # raises → rollback: nothing stored
        if problem is None:
            row_id = await q.store_asaas_event(
                conn,
                tenant_id,
                event_id=event.event_id,
                event_type=event.event_type,
                payment_id=event.payment_id,
                payload=event.payload,
                request_id=request_id_var.get(),
            )
        else:
            await q.log_error(
                conn,
                tenant_id,
                source="webhooks.asaas",
                code=problem.code,
                message=problem.message,
                payload={"body": body[:4000].decode("utf-8", "replace").replace("\x00", "")},
            )
    if problem is not None:
        raise problem
    return Ingested(tenant_id, event.event_id, duplicate=row_id is None)


__all__ = [
    "Ingested",
    "TokenHashCache",
    "WebhookEvent",
    "ingest",
    "new_webhook_token",
    "parse_event",
    "tenant_of_token",
    "token_hash",
]
