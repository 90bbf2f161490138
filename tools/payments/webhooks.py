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

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import DependencyUnavailable, Unauthorized
from core.logging import request_id_var
from core.tenancy import TenantId
from db import payments as q
from db.pool import statement_conn, tenant_tx

from .errors import MalformedWebhook

TOKEN_VERSION = "tdm1"
_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,79}$")
log = logging.getLogger(__name__)
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


class IngestBatcher:
    """Group commit for well-formed deliveries (ADR 0010): deliveries that arrive while
    ``max_in_flight`` batches are already being stored wait and go together, up to
    ``max_batch``, in one ``asaas_ingest_events`` statement — one commit, one WAL flush and
    one NOTIFY for all of them. Nothing waits on a timer: with no batch in flight a
    delivery is stored at once, alone, so a quiet tenant sees the single-statement latency.

    :meth:`submit` returns only after the batch holding the delivery has committed, so the
    caller still acknowledges only a durable event. If the batch statement fails, its items
    are stored one by one (``asaas_ingest_event``), so one bad item or a broken connection
    fails only the deliveries it concerns, each with its own error. One per process (the
    gateway's lifespan); not thread-safe (one event loop)."""

    def __init__(
        self, pool: asyncpg.Pool, *, max_batch: int = 64, max_in_flight: int = 2, timeout_s: float = 5.0
    ) -> None:
        if max_batch < 1 or max_in_flight < 1 or timeout_s <= 0:
            raise ValueError("max_batch and max_in_flight must be at least 1, timeout_s above 0")
        self._pool, self._max_batch, self._max_in_flight = pool, max_batch, max_in_flight
        self._timeout = timeout_s
        self._queue: list[tuple[q.AsaasIngestItem, asyncio.Future[str]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self.batches = 0  # statements sent (counters, read by the tests; no metric exported yet)
        self.items = 0
        self.fallbacks = 0  # batches that failed and were stored one by one

    async def submit(self, item: q.AsaasIngestItem) -> str:
        """``stored``, ``duplicate`` or ``unauthorized`` once committed; raises what storing
        the item alone raised. A cancelled caller does not withdraw the item (it may already
        be in a statement); it is stored, and the provider's retry is then a duplicate."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled caller's error is not "never retrieved"
        self._queue.append((item, future))
        self._pump()
        return await asyncio.shield(future)

    def _pump(self) -> None:
        while self._queue and len(self._flushes) < self._max_in_flight:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        self._pump()

    async def _flush(self, batch: list[tuple[q.AsaasIngestItem, asyncio.Future[str]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            try:
                async with self._conn() as conn:
                    if len(batch) == 1:
                        outcomes = [await self._one(conn, batch[0][0])]
                    else:
                        outcomes = await q.ingest_asaas_events(conn, [item for item, _ in batch])
            except Exception:
                if len(batch) == 1:
                    raise
                self.fallbacks += 1
                log.warning("webhook batch of %d failed; storing its items one by one", len(batch), exc_info=True)
                await asyncio.gather(*(self._alone(item, future) for item, future in batch))
                return
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def _alone(self, item: q.AsaasIngestItem, future: asyncio.Future[str]) -> None:
        try:
            async with self._conn() as conn:
                outcome = await self._one(conn, item)
        except Exception as exc:  # noqa: BLE001 - handed to the delivery's own caller
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(outcome)

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one statement; waiting for Postgres (the pool, the statement) is
        bounded by ``timeout_s``, so a stuck connection cannot hold the deliveries queued
        behind it: they fail with 503 and the provider retries (Asaas for days)."""
        try:
            async with asyncio.timeout(self._timeout), statement_conn(self._pool) as conn:
                yield conn
        except TimeoutError:
            raise DependencyUnavailable("storing the webhook took too long; the provider will retry it") from None

    async def _one(self, conn: asyncpg.Connection, item: q.AsaasIngestItem) -> str:
        return await q.ingest_asaas_event(
            conn,
            item.tenant_id,
            token_hash=item.token_hash,
            event_id=item.event_id,
            event_type=item.event_type,
            payment_id=item.payment_id,
            payload=json.loads(item.payload_json),
            request_id=item.request_id,
        )

    async def aclose(self) -> None:
        """Wait for the batches in flight (their callers are owed an answer)."""
        while self._flushes or self._queue:
            if self._flushes:
                await asyncio.gather(*self._flushes, return_exceptions=True)
            else:
                self._pump()


def _retrieved(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()


async def ingest(
    pool: asyncpg.Pool,
    token: str | None,
    body: bytes,
    cache: TokenHashCache | None = None,
    *,
    one_call: bool = True,
    batcher: IngestBatcher | None = None,
) -> Ingested:
    """Authenticate and store one delivery; returns once it is committed (then answer 200).

    ``one_call`` (the default, ADR 0008): a well-formed delivery is one autocommit
    statement (``db.payments.ingest_asaas_event``: token check, raw event, outbox event,
    NOTIFY), so one Postgres round trip; with ``batcher`` (ADR 0010) it shares that
    statement with the deliveries arriving meanwhile. ``one_call=False`` keeps the older
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
        if batcher is not None:
            outcome = await batcher.submit(
                q.AsaasIngestItem(
                    tenant_id,
                    token_hash(token),
                    event.event_id,
                    event.event_type,
                    event.payment_id,
                    json.dumps(event.payload, ensure_ascii=False),
                    request_id_var.get(),
                )
            )
        else:
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
    "IngestBatcher",
    "Ingested",
    "TokenHashCache",
    "WebhookEvent",
    "ingest",
    "new_webhook_token",
    "parse_event",
    "tenant_of_token",
    "token_hash",
]
