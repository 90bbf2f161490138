"""asyncpg pools and the one helper through which tenant data is touched.

``tenant_tx(pool, tenant_id)`` opens a transaction and sets ``app.tenant_id``
transaction-locally (``set_config(..., true)``), so the setting dies with the transaction
and transaction poolers (Supavisor, PgBouncer) stay safe. RLS is the backstop; every
query still names its tenant.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg

from core.tenancy import TenantId

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without ``RESET ALL``/``UNLISTEN *`` (asyncpg still rolls back an open
    transaction and drops listeners first)."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10, reset_session: bool = True) -> asyncpg.Pool:
    """One pool per process (replica, actor, task), created in its constructor/lifespan.

    ``reset_session=False`` skips asyncpg's reset query on release (one round trip per
    use): only for a pool whose connections never change session state — every setting
    transaction-local, no LISTEN, no session advisory locks (the webhook ingest pool,
    ADR 0008)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        # Transaction poolers cannot keep server-side prepared statements.
        statement_cache_size=100,
        reset=None if reset_session else _keep_session,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def tenant_tx(
    pool: asyncpg.Pool, tenant_id: TenantId, *, durable: bool = True
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction bound to one tenant. The only way tenant data is read or written.

    ``durable=False`` commits without waiting for the WAL flush (synchronous_commit off,
    this transaction only). Only for bookkeeping whose loss in a crash is harmless — e.g.
    an idempotency key's in-flight marker: any later durable commit flushes it anyway,
    since the WAL is written in order.
    """
    conn = await pool.acquire()
    try:
        async with conn.transaction():
            await conn.execute(
                "select set_config('app.tenant_id', $1, true), set_config('synchronous_commit', $2, true)",
                str(tenant_id),
                "on" if durable else "off",
            )
            yield cast(asyncpg.Connection, conn)
    finally:
        _release_behind(pool, conn)


@asynccontextmanager
async def statement_conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside any transaction, for ONE statement that is its own
    transaction and sets its tenant context itself (``asaas_ingest_event``, ADR 0008).
    Everything else goes through ``tenant_tx``. Released like ``tenant_tx`` releases."""
    conn = await pool.acquire()
    try:
        yield cast(asyncpg.Connection, conn)
    finally:
        _release_behind(pool, conn)


_releasing: set[asyncio.Task[None]] = set()


def _release_behind(pool: asyncpg.Pool, conn: Any) -> None:
    """Hand the connection back to the pool without the caller waiting for it.

    asyncpg resets a connection on release (``RESET ALL``, ``UNLISTEN *``, … — one round
    trip): the transaction is over by now (committed or rolled back), so nothing the caller
    does depends on it, and every transaction would otherwise pay that round trip on its
    way out. ``pool.close()`` still waits for these releases."""
    task = asyncio.get_running_loop().create_task(pool.release(conn))
    _releasing.add(task)
    task.add_done_callback(_released)


def _released(task: asyncio.Task[None]) -> None:
    _releasing.discard(task)
    if not task.cancelled() and task.exception() is not None:  # asyncpg terminated the connection
        log.warning("releasing a connection failed", extra={"error": repr(task.exception())})


@asynccontextmanager
async def principal_tx(pool: asyncpg.Pool, user_id: str) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that may read only the principal's own memberships (no tenant yet)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select set_config('app.user_id', $1, true)", user_id)
        yield cast(asyncpg.Connection, conn)


def record(row: asyncpg.Record | None) -> dict[str, Any] | None:
    return None if row is None else dict(row)


__all__ = ["create_pool", "principal_tx", "record", "statement_conn", "tenant_tx"]
