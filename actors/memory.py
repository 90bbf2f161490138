"""Conversation memory and run records in Postgres — what lets a restarted actor continue.

A conversation is a CRM thread (``threads``); its turns are ``messages`` rows with
``meta.agent`` and ``meta.run_id``. The user's turn is written when the run starts
(inside the thread's turn lock) and the agent's turn when it completes, together with the
``agent_runs`` row, so a crash never leaves half an answer in memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import Conflict, NotFound
from core.tenancy import TenantId
from db.crm import decode_cursor, encode_cursor

RUN_COLUMNS = """r.id, a.name as agent, r.thread_id, r.status, r.input, r.output, r.sources, r.tool_calls,
    r.tokens_in, r.tokens_out, r.cost, r.latency_ms, r.model, r.prompt_version_id, pv.version as prompt_version,
    r.ab_bucket, r.error, r.created_at, r.finished_at"""
_RUN_FROM = """agent_runs r join agents a on a.tenant_id = r.tenant_id and a.id = r.agent_id
    left join prompt_versions pv on pv.tenant_id = r.tenant_id and pv.id = r.prompt_version_id"""


async def ensure_thread(
    conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID | None, agent: str, run_id: UUID
) -> asyncpg.Record:
    """The run's thread: this tenant's thread ``thread_id``; a new web-chat thread with that
    id when the tenant has none (front ends create chat ids locally); a new one with a fresh
    id when none is given.

    Thread ids are unique per tenant (migration 0006), so an id another tenant uses names a
    different, new thread here: nothing of theirs is read or written, and the answer is the
    same as for an id nobody ever used — no way to learn that it exists elsewhere."""
    if thread_id is None:
        row = await conn.fetchrow(
            """insert into threads (tenant_id, channel, external_id) values ($1, 'chat', $2)
               returning id, status, lead_id""",
            tenant_id,
            f"agent:{agent}:{run_id}",
        )
        assert row is not None
        return row
    row = await thread_state(conn, tenant_id, thread_id)
    if row is not None:
        return row
    # Two first turns racing on one new id: one inserts, the other finds it.
    row = await conn.fetchrow(
        """insert into threads (tenant_id, id, channel, external_id) values ($1, $2, 'chat', $3)
           on conflict do nothing returning id, status, lead_id""",
        tenant_id,
        thread_id,
        f"client:{thread_id}",
    )
    if row is None:
        row = await thread_state(conn, tenant_id, thread_id)
    if row is None:  # the external id is taken by another of this tenant's threads
        raise Conflict("this thread id cannot be used; choose another", details={"thread_id": str(thread_id)})
    return row


async def start_on_new_thread(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    thread_id: UUID,
    agent: str,
    run_id: UUID,
    agent_id: UUID,
    input_: str,
    model: str,
    prompt_version_id: UUID,
    ab_bucket: str,
    message: tuple[str, dict[str, Any]] | None,
) -> asyncpg.Record:
    """A run on a new thread, in one round trip: the thread (id chosen by the caller, the
    external id ``ensure_thread`` gives a new thread), the run record (as ``create_run``)
    and, with ``message`` (sender, meta), the user's message (``input_``, as
    ``append_message``). Returns the thread's (id, status, lead_id)."""
    row = await conn.fetchrow(
        """with t as (
               insert into threads (tenant_id, id, channel, external_id) values ($1, $2, 'chat', $3)
               returning id, status, lead_id),
           r as (
               insert into agent_runs
                   (id, tenant_id, agent_id, thread_id, status, input, model, prompt_version_id, ab_bucket)
               select $4, $1, $5, t.id, 'running', $6, $7, $8, $9 from t),
           m as (
               insert into messages (tenant_id, thread_id, direction, sender, body, meta)
               select $1, t.id, 'in', $10, $6, $11 from t where $12)
           select id, status, lead_id from t""",
        tenant_id,
        thread_id,
        f"agent:{agent}:{run_id}",
        run_id,
        agent_id,
        input_,
        model,
        prompt_version_id,
        ab_bucket,
        message[0] if message else None,
        message[1] if message else None,
        message is not None,
    )
    assert row is not None
    return row


async def thread_state(conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select id, status, lead_id from threads where tenant_id = $1 and id = $2", tenant_id, thread_id
    )


async def append_message(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    thread_id: UUID,
    *,
    direction: str,
    sender: str,
    body: str,
    meta: dict[str, Any],
) -> None:
    await conn.execute(
        """insert into messages (tenant_id, thread_id, direction, sender, body, meta)
           values ($1, $2, $3, $4, $5, $6)""",
        tenant_id,
        thread_id,
        direction,
        sender,
        body,
        meta,
    )


async def history(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    thread_id: UUID,
    agent: str,
    limit: int = 20,
    *,
    exclude_turn: UUID | None = None,
) -> list[tuple[str, str]]:
    """Last turns of the thread seen by ``agent`` (its own turns and inbound messages).

    ``exclude_turn``: inbox messages claimed by that run (its input) and messages still
    waiting for a later turn are not history yet."""
    rows = await conn.fetch(
        """select direction, body from (
               select direction, body, created_at, id from messages
               where tenant_id = $1 and thread_id = $2 and (meta->>'agent' = $3 or meta->>'agent' is null)
                 and ($5::uuid is null or (turn_run_id is distinct from $5 and turn_state is distinct from 'pending'))
               order by created_at desc, id desc limit $4) t
           order by created_at, id""",
        tenant_id,
        thread_id,
        agent,
        limit,
        exclude_turn,
    )
    return [("user" if r["direction"] == "in" else "assistant", r["body"]) for r in rows]


async def create_run(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    run_id: UUID,
    agent_id: UUID,
    thread_id: UUID,
    input_: str,
    model: str,
    prompt_version_id: UUID,
    ab_bucket: str,
) -> None:
    await conn.execute(
        """insert into agent_runs
               (id, tenant_id, agent_id, thread_id, status, input, model, prompt_version_id, ab_bucket)
           values ($1, $2, $3, $4, 'running', $5, $6, $7, $8)""",
        run_id,
        tenant_id,
        agent_id,
        thread_id,
        input_,
        model,
        prompt_version_id,
        ab_bucket,
    )


_FINISH_SQL = """update agent_runs set status = $3, output = $4, sources = $5, tool_calls = $6, tokens_in = $7,
              tokens_out = $8, cost = $9, latency_ms = $10, error = $11, finished_at = now()
       where tenant_id = $1 and id = $2"""


async def finish_run(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    run_id: UUID,
    *,
    status: str,
    output: str,
    sources: list[dict[str, Any]],
    tool_calls: list[dict[str, Any]],
    tokens_in: int,
    tokens_out: int,
    cost: float,
    latency_ms: int,
    error: str | None = None,
    answer: tuple[UUID, str, dict[str, Any]] | None = None,
) -> None:
    """Record the run's outcome. With ``answer`` (thread, sender, meta) the same statement
    writes the agent's turn (``output``) into the thread: one round trip, not two."""
    args: list[Any] = [tenant_id, run_id, status, output, sources, tool_calls, tokens_in, tokens_out, cost]
    args += [latency_ms, error]
    sql = _FINISH_SQL
    if answer is not None:
        sql = f"""with finished as ({_FINISH_SQL})
            insert into messages (tenant_id, thread_id, direction, sender, body, meta)
            values ($1, $12, 'out', $13, $4, $14)"""
        args += list(answer)
    await conn.execute(sql, *args)


async def interrupt_stale_runs(conn: asyncpg.Connection, tenant_id: TenantId, agent_id: UUID) -> int:
    """On (re)activation: runs left 'running' by a dead incarnation are interrupted."""
    result: str = await conn.execute(
        """update agent_runs set status = 'interrupted', finished_at = now(),
                  error = 'the agent actor stopped during the run'
           where tenant_id = $1 and agent_id = $2 and status = 'running'""",
        tenant_id,
        agent_id,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def get_run(conn: asyncpg.Connection, tenant_id: TenantId, run_id: UUID) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"select {RUN_COLUMNS} from {_RUN_FROM} where r.tenant_id = $1 and r.id = $2", tenant_id, run_id
    )
    if row is None:
        raise NotFound("run not found", details={"id": str(run_id)})
    return _run_dict(row)


async def find_run(conn: asyncpg.Connection, tenant_id: TenantId, run_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"select {RUN_COLUMNS} from {_RUN_FROM} where r.tenant_id = $1 and r.id = $2", tenant_id, run_id
    )
    return None if row is None else _run_dict(row)


def _run_dict(row: asyncpg.Record) -> dict[str, Any]:
    d = dict(row)
    d["cost"] = float(d["cost"])
    return d


async def list_runs(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    agent: str | None,
    thread_id: UUID | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    args: list[Any] = [tenant_id]
    where = ["r.tenant_id = $1"]
    if agent:
        args.append(agent)
        where.append(f"a.name = ${len(args)}")
    if thread_id:
        args.append(thread_id)
        where.append(f"r.thread_id = ${len(args)}")
    if cursor:
        ts, id_ = decode_cursor(cursor)
        args.extend([ts, id_])
        where.append(f"(r.created_at, r.id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await conn.fetch(
        f"select {RUN_COLUMNS} from {_RUN_FROM} where {' and '.join(where)} "
        f"order by r.created_at desc, r.id desc limit ${len(args)}",
        *args,
    )
    items = [_run_dict(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        created: datetime = last["created_at"]
        next_cursor = encode_cursor(created, last["id"])
    return {"items": items, "next_cursor": next_cursor}


__all__ = [
    "append_message",
    "create_run",
    "ensure_thread",
    "start_on_new_thread",
    "find_run",
    "finish_run",
    "get_run",
    "history",
    "interrupt_stale_runs",
    "list_runs",
    "thread_state",
]
