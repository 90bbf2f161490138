"""Idempotency keys (IETF draft semantics), scoped to tenant + principal, under RLS.

Two phases. ``acquire`` commits an ``in_flight`` row on its own, so a concurrent request
with the same key sees it and gets 409. The handler's business transaction then calls
``complete`` on the *same* connection, so the stored response commits atomically with the
change it describes: either both exist or neither does. If the handler fails, ``release``
deletes the in-flight row so the client can retry. A process that dies between the two
phases leaves a lock that expires after ``lock_timeout_s``; re-running then is safe because
the business write never committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from core.errors import IdempotencyKeyInFlight, IdempotencyKeyMismatch
from core.tenancy import TenantId

from .pool import tenant_tx


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored first response. ``content`` holds its exact bytes and ``headers`` its
    representation headers; rows written before migration 0006 carry only ``body`` (jsonb)."""

    status: int
    content: bytes | None
    headers: tuple[tuple[str, str], ...]
    body: Any = None


@dataclass(frozen=True, slots=True)
class Slot:
    tenant_id: TenantId
    principal: str
    key: str

    async def complete(
        self, conn: asyncpg.Connection, status: int, content: bytes, headers: Sequence[tuple[str, str]]
    ) -> None:
        """Store the response — its exact bytes and headers — inside the caller's (business)
        transaction, so that a replay is byte-identical to the first answer."""
        await conn.execute(
            """update idempotency_keys
                  set status = 'done', response_code = $4, response_bytes = $5, response_headers = $6
               where tenant_id = $1 and principal = $2 and key = $3""",
            self.tenant_id,
            self.principal,
            self.key,
            status,
            content,
            [list(h) for h in headers],
        )


async def acquire(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    principal: str,
    key: str,
    *,
    method: str,
    path: str,
    request_hash: str,
    ttl: timedelta,
    lock_timeout: timedelta,
) -> Slot | Replay:
    async with tenant_tx(pool, tenant_id, durable=False) as conn:
        # One statement: a new key is inserted; a key past its retention is taken over as
        # new (reuse after expiry starts a new request); a live key returns nothing.
        inserted = await conn.fetchval(
            """insert into idempotency_keys (tenant_id, principal, key, method, path, request_hash, expires_at)
               values ($1, $2, $3, $4, $5, $6, now() + $7::interval)
               on conflict (tenant_id, principal, key) do update
                 set method = excluded.method, path = excluded.path, request_hash = excluded.request_hash,
                     status = 'in_flight', response_code = null, response_body = null,
                     response_bytes = null, response_headers = null,
                     locked_at = now(), created_at = now(), expires_at = excluded.expires_at
                 where idempotency_keys.expires_at < now()
               returning true""",
            tenant_id,
            principal,
            key,
            method,
            path,
            request_hash,
            ttl,
        )
        if inserted:
            return Slot(tenant_id, principal, key)
        row = await conn.fetchrow(
            """select method, path, request_hash, status, response_code, response_body,
                      response_bytes, response_headers, locked_at < now() - $4::interval as stale
               from idempotency_keys where tenant_id = $1 and principal = $2 and key = $3 for update""",
            tenant_id,
            principal,
            key,
            lock_timeout,
        )
        if row is None:  # deleted between our insert and select (released): treat as in flight
            raise IdempotencyKeyInFlight("a request with this Idempotency-Key is being processed; retry shortly")
        if (row["method"], row["path"], row["request_hash"]) != (method, path, request_hash):
            raise IdempotencyKeyMismatch(
                "this Idempotency-Key was used with a different request; use a new key",
                details={"original": {"method": row["method"], "path": row["path"]}},
            )
        if row["status"] == "done":
            headers = tuple((str(k), str(v)) for k, v in row["response_headers"] or ())
            return Replay(row["response_code"], row["response_bytes"], headers, row["response_body"])
        if not row["stale"]:
            raise IdempotencyKeyInFlight(
                "a request with this Idempotency-Key is being processed; retry shortly",
                headers={"Retry-After": "1"},
            )
        await conn.execute(
            "update idempotency_keys set locked_at = now() where tenant_id = $1 and principal = $2 and key = $3",
            tenant_id,
            principal,
            key,
        )
        return Slot(tenant_id, principal, key)


async def release(pool: asyncpg.Pool, slot: Slot) -> None:
    """Forget an in-flight key whose handler failed, so the client may retry it."""
    async with tenant_tx(pool, slot.tenant_id, durable=False) as conn:
        await conn.execute(
            """delete from idempotency_keys
               where tenant_id = $1 and principal = $2 and key = $3 and status = 'in_flight'""",
            slot.tenant_id,
            slot.principal,
            slot.key,
        )


__all__ = ["Replay", "Slot", "acquire", "release"]
