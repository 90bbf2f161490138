"""Group commit of Asaas deliveries (ADR 0010, migration 0017): ``IngestBatcher`` sends the
deliveries that arrive while a batch is in flight together in one ``asaas_ingest_events``
statement. Each caller still gets its own outcome only after the commit; tenants, tokens
and duplicates are judged item by item; a batch that fails is stored item by item so one
bad delivery fails alone. Rows are read back from other connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from core.errors import DependencyUnavailable, Unauthorized
from core.settings import Settings
from core.tenancy import TenantId
from db import payments as q
from db.pool import create_pool, tenant_tx
from tools.payments import IngestBatcher, ingest, token_hash

from ..payments_support import hooked_member, stored_asaas_events
from .conftest import MakeMember


@pytest.fixture
async def ingest_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.require_database_url(), max_size=3, reset_session=False)
    yield pool
    await pool.close()


def _event(event_id: str) -> bytes:
    # No payment: the PaymentsWorker of the cluster tier (same Postgres) settles these locally
    # instead of retrying a dead Asaas URL for each, which held up the tier's real payments.
    return json.dumps({"id": event_id, "event": "PAYMENT_RECEIVED"}).encode()


def _item(tenant: TenantId, token: str, event_id: str, payload_json: str | None = None) -> q.AsaasIngestItem:
    payload = payload_json if payload_json is not None else json.dumps({"id": event_id, "event": "PAYMENT_CREATED"})
    return q.AsaasIngestItem(tenant, token_hash(token), event_id, "PAYMENT_CREATED", None, payload, "rid")


async def _stored(pool: asyncpg.Pool, tenant_id: TenantId) -> tuple[list[str], list[str]]:
    """Stored event ids, and the event ids of the outbox events (one each when right)."""
    events, outbox = await stored_asaas_events(pool, tenant_id)
    return events, [str(p["event_id"]) for p in outbox]


async def test_concurrent_deliveries_share_statements_and_each_gets_its_outcome(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    (a, token_a), (b, token_b) = [await hooked_member(make_member, app_pool) for _ in range(2)]
    batcher = IngestBatcher(ingest_pool, max_batch=10, max_in_flight=1)
    deliveries: list[tuple[str, bytes]] = []
    for i in range(12):
        deliveries += [(token_a, _event(f"evt_{i}")), (token_b, _event(f"evt_{i}"))]
    deliveries += [(token_a, _event("evt_3")), (token_b, _event("evt_0"))]  # duplicates, same batch or not
    deliveries += [(token_a + "x", _event("evt_forged"))]  # a wrong token among good ones
    results = await asyncio.gather(
        *(ingest(ingest_pool, t, body, batcher=batcher) for t, body in deliveries), return_exceptions=True
    )
    # One alone (nothing was in flight), then the 26 that waited, ten at a time.
    assert (batcher.batches, batcher.items, batcher.fallbacks) == (4, 27, 0)
    assert isinstance(results[-1], Unauthorized)
    oks = [r for r in results[:-1] if not isinstance(r, BaseException)]
    assert len(oks) == 26
    assert [r.duplicate for r in oks[:24]] == [False] * 24 and [r.duplicate for r in oks[24:]] == [True, True]
    assert [r.tenant_id for r in oks[:4]] == [a.tenant_id, b.tenant_id] * 2
    expected = sorted(f"evt_{i}" for i in range(12))
    assert await _stored(app_pool, a.tenant_id) == (expected, expected)
    assert await _stored(app_pool, b.tenant_id) == (expected, expected)


async def test_a_failing_batch_is_stored_item_by_item(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    """One item Postgres refuses (not JSON) aborts its batch's statement — nothing of it is
    written — and the batcher then stores each item alone: only that item fails."""
    m, token = await hooked_member(make_member, app_pool)
    batcher = IngestBatcher(ingest_pool, max_batch=64, max_in_flight=1)
    items = [_item(m.tenant_id, token, f"evt_{i}") for i in range(6)]
    items.insert(3, _item(m.tenant_id, token, "evt_bad", payload_json="{not json"))
    results = await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)
    assert (batcher.batches, batcher.fallbacks) == (2, 1)
    assert isinstance(results[3], Exception)  # alone, it fails on its own (not JSON)
    assert [r for i, r in enumerate(results) if i != 3] == ["stored"] * 6
    stored = sorted(f"evt_{i}" for i in range(6))
    assert await _stored(app_pool, m.tenant_id) == (stored, stored)


async def test_one_statement_commits_a_batch_and_leaves_no_tenant_behind(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    (a, token_a), (b, token_b) = [await hooked_member(make_member, app_pool) for _ in range(2)]
    items = [
        _item(a.tenant_id, token_a, "evt_1"),
        _item(b.tenant_id, token_b, "evt_1"),
        _item(a.tenant_id, token_a, "evt_1"),  # the same tenant's id again, in the same statement
        _item(b.tenant_id, token_a, "evt_2"),  # a's token presented for b
    ]
    async with ingest_pool.acquire() as conn:
        assert await q.ingest_asaas_events(conn, items) == ["stored", "stored", "duplicate", "unauthorized"]
        assert not await conn.fetchval("select current_setting('app.tenant_id', true)")
        assert await conn.fetchval("select count(*) from asaas_events") == 0  # RLS: no tenant, no rows
        assert not conn.is_in_transaction()
    assert await _stored(app_pool, a.tenant_id) == (["evt_1"], ["evt_1"])
    assert await _stored(app_pool, b.tenant_id) == (["evt_1"], ["evt_1"])


async def test_batch_refuses_a_transaction_and_mismatched_arrays(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    m, token = await hooked_member(make_member, app_pool)
    async with tenant_tx(ingest_pool, m.tenant_id) as conn:
        with pytest.raises(RuntimeError, match="autocommit"):
            await q.ingest_asaas_events(conn, [_item(m.tenant_id, token, "evt_tx")])
    async with ingest_pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="differ in length"):
            await conn.fetchval(
                "select asaas_ingest_events($1, $2, $3, $4, $5, $6, $7, 't', 'c')",
                [m.tenant_id], [token_hash(token)], ["evt_1", "evt_2"], ["E"], [None], ["{}"], [None],
            )  # fmt: skip
    assert await _stored(app_pool, m.tenant_id) == ([], [])


async def test_racing_batches_with_the_same_ids_do_not_deadlock(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    """A provider's retries racing: two statements holding the same 300 event ids in
    opposite orders. Items are written in (tenant, event id) order, so the second waits for
    the first's unique-index locks instead of deadlocking; every id is stored once."""
    m, token = await hooked_member(make_member, app_pool)
    items = [_item(m.tenant_id, token, f"evt_{i:04d}") for i in range(300)]

    async def one(batch: list[q.AsaasIngestItem]) -> list[str]:
        async with ingest_pool.acquire() as conn:
            return await q.ingest_asaas_events(conn, batch)

    forward, backward = await asyncio.gather(one(items), one(items[::-1]))
    assert sorted(forward + backward) == ["duplicate"] * 300 + ["stored"] * 300
    assert [a != b for a, b in zip(forward, backward[::-1], strict=True)] == [True] * 300
    ids = sorted(i.event_id for i in items)
    assert await _stored(app_pool, m.tenant_id) == (ids, ids)


async def test_a_stuck_statement_fails_its_deliveries_with_503_and_frees_the_queue(
    make_member: MakeMember, app_pool: asyncpg.Pool, ingest_pool: asyncpg.Pool
) -> None:
    """A statement that cannot finish (here: waiting on another transaction's lock on the
    same event id) fails its deliveries with 503 after ``timeout_s`` — the provider retries —
    instead of holding every delivery queued behind it."""
    m, token = await hooked_member(make_member, app_pool)
    batcher = IngestBatcher(ingest_pool, max_in_flight=1, timeout_s=0.5)
    blocker = await app_pool.acquire()
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("select set_config('app.tenant_id', $1, true)", str(m.tenant_id))
        await blocker.execute(
            "insert into asaas_events (tenant_id, event_id, event_type, payload) values ($1, 'evt_held', 'E', '{}')",
            m.tenant_id,
        )
        stuck = [_item(m.tenant_id, token, "evt_held"), _item(m.tenant_id, token, "evt_free")]
        results = await asyncio.gather(*(batcher.submit(i) for i in stuck), return_exceptions=True)
        assert isinstance(results[0], DependencyUnavailable) and results[0].status == 503
        await tx.rollback()
    finally:
        await app_pool.release(blocker)
    assert await batcher.submit(_item(m.tenant_id, token, "evt_held")) == "stored"
    assert await batcher.submit(_item(m.tenant_id, token, "evt_free")) in ("stored", "duplicate")
    events, outbox = await _stored(app_pool, m.tenant_id)
    assert events == outbox == ["evt_free", "evt_held"]
