"""Conversation replay for audits (seed §9, LGPD): a thread with its messages, the agent
runs that answered it, their tool calls (as the model saw them and as the side-effect
ledger recorded them) and the sources they cited — with personal data masked.

Every string in the replay goes through ``knowledge.pii.mask_pii`` (CPF, CNPJ, phone,
e-mail, card number with a valid Luhn digit), including the JSON of tool arguments and
results; the lead is referenced by id only (names and contacts are not in a replay). Each
replay is written to ``audit_logs`` in the same transaction that read it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import NotFound
from core.tenancy import TenantId
from knowledge.pii import mask_pii


class _Masker:
    """Masks strings anywhere in a JSON-like value, counting what it masked by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        result = mask_pii(value)
        self.counts.update(m.kind.value for m in result.matches)
        return result.text

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value


async def thread_replay(
    conn: asyncpg.Connection, tenant_id: TenantId, thread_id: UUID, *, actor: str, role: str
) -> dict[str, Any]:
    """The masked replay of one thread of this tenant; another tenant's id is ``NotFound``."""
    thread = await conn.fetchrow(
        "select id, lead_id, channel, status, created_at from threads where tenant_id = $1 and id = $2",
        tenant_id,
        thread_id,
    )
    if thread is None:
        raise NotFound("thread not found", details={"id": str(thread_id)})
    messages = await conn.fetch(
        """select id, direction, sender, body, meta->>'agent' as agent, meta->>'run_id' as run_id, created_at
           from messages where tenant_id = $1 and thread_id = $2 order by created_at, id""",
        tenant_id,
        thread_id,
    )
    runs = await conn.fetch(
        """select r.id, a.name as agent, r.status, r.input, r.output, r.sources, r.tool_calls, r.tokens_in,
                  r.tokens_out, r.cost, r.price_version, r.latency_ms, r.model, r.prompt_version_id, r.ab_bucket,
                  r.error, r.created_at, r.finished_at
           from agent_runs r join agents a on a.tenant_id = r.tenant_id and a.id = r.agent_id
           where r.tenant_id = $1 and r.thread_id = $2 order by r.created_at, r.id""",
        tenant_id,
        thread_id,
    )
    ledger = await conn.fetch(
        """select id, run_id, tool, args, result, created_at from tool_invocations
           where tenant_id = $1 and run_id = any($2::uuid[]) order by created_at, id""",
        tenant_id,
        [r["id"] for r in runs],
    )
    m = _Masker()
    by_run: dict[UUID, list[dict[str, Any]]] = {}
    for row in ledger:
        by_run.setdefault(row["run_id"], []).append(
            {
                "id": row["id"],
                "tool": row["tool"],
                "args": m.json(row["args"]),
                "result": m.json(row["result"]),
                "created_at": row["created_at"],
            }
        )
    replay = {
        "thread": {
            "id": thread["id"],
            "lead_id": thread["lead_id"],
            "channel": thread["channel"],
            "status": thread["status"],
            "created_at": thread["created_at"],
        },
        "messages": [
            {
                "id": r["id"],
                "direction": r["direction"],
                "sender": m.text(r["sender"]),
                "body": m.text(r["body"]),
                "agent": r["agent"],
                "run_id": r["run_id"],
                "created_at": r["created_at"],
            }
            for r in messages
        ],
        "runs": [
            {
                "id": r["id"],
                "agent": r["agent"],
                "status": r["status"],
                "model": r["model"],
                "input": m.text(r["input"]),
                "output": m.text(r["output"]),
                "error": m.text(r["error"]),
                "tool_calls": m.json(r["tool_calls"]),
                "tool_invocations": by_run.get(r["id"], []),
                "sources": m.json(r["sources"]),
                "usage": {"tokens_in": r["tokens_in"], "tokens_out": r["tokens_out"]},
                "cost_usd": float(r["cost"]),
                "price_version": r["price_version"],
                "latency_ms": r["latency_ms"],
                "prompt_version_id": r["prompt_version_id"],
                "ab_bucket": r["ab_bucket"],
                "created_at": r["created_at"],
                "finished_at": r["finished_at"],
            }
            for r in runs
        ],
    }
    replay["masked"] = dict(sorted(m.counts.items()))
    await conn.execute(
        """insert into audit_logs (tenant_id, actor, action, target, meta)
           values ($1, $2, 'conversation.replay', $3, $4)""",
        tenant_id,
        actor,
        str(thread_id),
        {"role": role, "masked": replay["masked"], "runs": len(runs), "messages": len(messages)},
    )
    return replay


__all__ = ["thread_replay"]
