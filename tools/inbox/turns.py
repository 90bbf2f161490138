"""Burst merge: when a thread's pending messages become one Luddy turn (docs/inbox.md).

``due_at`` = min(last pending + quiet, first pending + max wait). ``claim_turn`` runs in one
tenant transaction with the thread row locked: it refuses while another run is active
(the message waits: enqueue policy), and otherwise marks every pending message with the
new run id and sets ``threads.active_run_id``. ``finish_turn`` records the answer as an
outbound delivery (idempotency key ``run:<run id>:<part>``), clears the active run and says
whether messages queued during the run need the next turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from core.tenancy import TenantId
from tools.channels import OutboundPart

from .outbound import enqueue_part
from .replies import with_reply_context


@dataclass(frozen=True, slots=True)
class Turn:
    run_id: UUID
    thread_id: UUID
    message_ids: tuple[UUID, ...]
    text: str
    channel: str
    contact: str


@dataclass(frozen=True, slots=True)
class Claim:
    turn: Turn | None = None
    due_at: datetime | None = None  # not yet due: look again then
    reason: str = ""


def due_at(first: datetime, last: datetime, quiet_s: float, max_wait_s: float) -> datetime:
    return min(last + timedelta(seconds=quiet_s), first + timedelta(seconds=max_wait_s))


async def claim_turn(
    conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID, *, quiet_s: float, max_wait_s: float
) -> Claim:
    thread = await conn.fetchrow(
        """select id, status, channel, external_id, active_run_id from threads
           where tenant_id = $1 and id = $2 for update""",
        tenant_id,
        thread_id,
    )
    if thread is None:
        return Claim(reason="no_thread")
    if thread["status"] != "bot":
        return Claim(reason=f"status_{thread['status']}")
    if thread["active_run_id"] is not None:
        return Claim(reason="run_active")  # finish_turn reschedules
    rows = await conn.fetch(
        """select id, body, created_at from messages
           where tenant_id = $1 and thread_id = $2 and direction = 'in' and turn_state = 'pending'
           order by created_at, id""",
        tenant_id,
        thread_id,
    )
    if not rows:
        await conn.execute(
            "update threads set pending_since = null where tenant_id = $1 and id = $2", tenant_id, thread_id
        )
        return Claim(reason="nothing_pending")
    now = await conn.fetchval("select now()")
    due = due_at(rows[0]["created_at"], rows[-1]["created_at"], quiet_s, max_wait_s)
    if due > now:
        return Claim(due_at=due, reason="quiet_window")
    run_id = uuid4()
    ids = [r["id"] for r in rows]
    await conn.execute(
        """update messages set turn_state = 'answered', turn_run_id = $3
           where tenant_id = $1 and id = any($2::uuid[])""",
        tenant_id,
        ids,
        run_id,
    )
    await conn.execute(
        """update threads set active_run_id = $3, pending_since = null, updated_at = now()
           where tenant_id = $1 and id = $2""",
        tenant_id,
        thread_id,
        run_id,
    )
    text = "\n".join(r["body"] for r in rows)
    turn = Turn(run_id, thread_id, tuple(ids), text, thread["channel"], thread["external_id"])
    return Claim(turn=turn, reason="claimed")


async def finish_turn(
    conn: asyncpg.Connection, tenant_id: TenantId, turn: Turn, *, status: str, output: str | None
) -> tuple[UUID | None, datetime | None]:
    """(outbound delivery id or None, when the next turn is due or None)."""
    thread = await conn.fetchrow(
        "select id, status, channel_account_id, external_id from threads where tenant_id = $1 and id = $2 for update",
        tenant_id,
        turn.thread_id,
    )
    if thread is None:
        return None, None
    outbound_id: UUID | None = None
    if status == "completed":
        message_id = await conn.fetchval(
            """select id from messages where tenant_id = $1 and thread_id = $2 and direction = 'out'
                 and meta->>'run_id' = $3 order by created_at limit 1""",
            tenant_id,
            turn.thread_id,
            str(turn.run_id),
        )
        if message_id is not None and output and thread["channel_account_id"] is not None:
            outbound_id = await enqueue_part(
                conn,
                tenant_id,
                thread_id=turn.thread_id,
                message_id=message_id,
                account_id=thread["channel_account_id"],
                recipient=thread["external_id"],
                part=await with_reply_context(
                    conn, tenant_id, turn.thread_id, turn.channel, OutboundPart(kind="text", text=output[:4096])
                ),
                idempotency_key=f"run:{turn.run_id}:0",
                run_id=turn.run_id,
                part_no=0,
            )
    else:
        # The run did not answer (failed, interrupted): its messages wait for the next turn.
        await conn.execute(
            """update messages set turn_state = 'pending', turn_run_id = null
               where tenant_id = $1 and turn_run_id = $2""",
            tenant_id,
            turn.run_id,
        )
    await conn.execute(
        """update threads set active_run_id = null, updated_at = now()
           where tenant_id = $1 and id = $2 and active_run_id = $3""",
        tenant_id,
        turn.thread_id,
        turn.run_id,
    )
    nxt = await conn.fetchrow(
        """select min(created_at) as first, max(created_at) as last from messages
           where tenant_id = $1 and thread_id = $2 and direction = 'in' and turn_state = 'pending'""",
        tenant_id,
        turn.thread_id,
    )
    next_due: datetime | None = None
    if nxt is not None and nxt["first"] is not None and thread["status"] == "bot":
        next_due = nxt["last"]
        await conn.execute(
            "update threads set pending_since = $3 where tenant_id = $1 and id = $2",
            tenant_id,
            turn.thread_id,
            nxt["first"],
        )
    return outbound_id, next_due


async def stale_turns(conn: asyncpg.Connection, tenant_id: TenantId) -> list[dict[str, Any]]:
    """Threads whose active run a dead worker left (recovery on start), with the run's
    status (None: the worker died between ``claim_turn`` and starting the run) and the
    messages the turn claimed (``stale_turn`` rebuilds the turn from them)."""
    rows = await conn.fetch(
        """select t.id as thread_id, t.status as thread_status, t.active_run_id, t.channel, t.external_id,
                  r.status as run_status, r.output,
                  coalesce(m.ids, '{}'::uuid[]) as message_ids, coalesce(m.text, '') as text
           from threads t
           left join agent_runs r on r.tenant_id = t.tenant_id and r.id = t.active_run_id
           left join lateral (
               select array_agg(id order by created_at, id) as ids,
                      string_agg(body, E'\\n' order by created_at, id) as text
               from messages
               where tenant_id = t.tenant_id and thread_id = t.id and direction = 'in'
                 and turn_run_id = t.active_run_id
           ) m on true
           where t.tenant_id = $1 and t.active_run_id is not null""",
        tenant_id,
    )
    return [dict(r) for r in rows]


def stale_turn(row: dict[str, Any]) -> Turn:
    """The turn a ``stale_turns`` row stands for, as ``claim_turn`` made it (same run id,
    messages and text), so a run started from it is the run that was claimed."""
    return Turn(
        row["active_run_id"],
        row["thread_id"],
        tuple(row["message_ids"]),
        row["text"],
        row["channel"],
        row["external_id"],
    )


async def pending_threads(conn: asyncpg.Connection, tenant_id: TenantId) -> list[UUID]:
    rows = await conn.fetch(
        "select id from threads where tenant_id = $1 and pending_since is not null and status = 'bot'", tenant_id
    )
    return [r["id"] for r in rows]


__all__ = ["Claim", "Turn", "claim_turn", "due_at", "finish_turn", "pending_threads", "stale_turn", "stale_turns"]
