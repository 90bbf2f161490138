"""Agent configuration in Postgres: tools, guardrails, runtime settings, prompt versions
and A/B buckets. Every prompt change is a new ``prompt_versions`` row; old rows stay for
the record (GET /agents/{agent}/prompts) and runs point at the version they used."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import ValidationFailed
from core.tenancy import TenantId


@dataclass(frozen=True, slots=True)
class PromptVersion:
    id: UUID
    version: int
    text: str
    ab_bucket: str
    weight: float


@dataclass(frozen=True, slots=True)
class AgentConfig:
    id: UUID
    name: str
    role: str
    tools: tuple[str, ...]
    guardrails: dict[str, Any]
    settings: dict[str, Any]
    prompts: tuple[PromptVersion, ...]  # active versions, one per bucket, sorted by bucket
    stamp: str = ""  # changes with any change of the above (STAMP_SQL); "" = unknown


@dataclass(frozen=True, slots=True)
class AgentDefaults:
    """What an agent gets before the tenant configures it (from the agent class)."""

    role: str
    tools: tuple[str, ...]
    prompt: str
    guardrails: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PromptSpec:
    bucket: str
    text: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class AgentUpdate:
    tools: tuple[str, ...] | None = None
    guardrails: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    role: str | None = None
    prompts: tuple[PromptSpec, ...] | None = None


# A stamp of the configuration that changes whenever it does: every write to the agent row
# (``apply_update`` and ``ensure_agent`` always touch it) gives it a new ``xmin``, and the set
# of active prompt rows with their ``xmin`` changes with any prompt insert, update or
# deactivation. A host keeps its agent's configuration and re-reads it only when the stamp,
# fetched with the run lookup it does anyway, differs (``config_stamp_and_run``).
STAMP_SQL = """a.xmin::text || ':' || coalesce((select string_agg(p.id::text || '@' || p.xmin::text, ',' order by p.id)
       from prompt_versions p where p.tenant_id = a.tenant_id and p.agent_id = a.id and p.active), '')"""

_LOAD_SQL = f"""select a.id, a.name, a.role, a.tools, a.guardrails, a.settings, {STAMP_SQL} as stamp,
       coalesce((select json_agg(json_build_object('id', p.id, 'version', p.version, 'text', p.text,
                                                   'ab_bucket', p.ab_bucket, 'weight', p.weight)
                                 order by p.ab_bucket, p.version desc)
                 from prompt_versions p where p.tenant_id = a.tenant_id and p.agent_id = a.id and p.active),
                '[]'::json) as prompts
    from agents a where a.tenant_id = $1 and a.name = $2"""


async def _active_prompts(conn: asyncpg.Connection, tenant_id: TenantId, agent_id: UUID) -> tuple[PromptVersion, ...]:
    rows = await conn.fetch(
        """select id, version, text, ab_bucket, weight from prompt_versions
           where tenant_id = $1 and agent_id = $2 and active order by ab_bucket, version desc""",
        tenant_id,
        agent_id,
    )
    return _latest_per_bucket(rows)


def _latest_per_bucket(rows: Any) -> tuple[PromptVersion, ...]:
    """Rows ordered by bucket, newest version first → the active version of each bucket."""
    seen: dict[str, PromptVersion] = {}
    for r in rows:
        pv = PromptVersion(UUID(str(r["id"])), r["version"], r["text"], r["ab_bucket"], float(r["weight"]))
        seen.setdefault(pv.ab_bucket, pv)
    return tuple(seen.values())


async def load_agent(conn: asyncpg.Connection, tenant_id: TenantId, name: str) -> AgentConfig | None:
    """The agent's configuration with its active prompts, in one statement (one snapshot)."""
    row = await conn.fetchrow(_LOAD_SQL, tenant_id, name)
    if row is None:
        return None
    return AgentConfig(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        tools=tuple(row["tools"]),
        guardrails=dict(row["guardrails"]),
        settings=dict(row["settings"]),
        prompts=_latest_per_bucket(row["prompts"]),
        stamp=row["stamp"],
    )


async def config_stamp_and_run(
    conn: asyncpg.Connection, tenant_id: TenantId, name: str, run_id: UUID
) -> asyncpg.Record | None:
    """One round trip: the agent's configuration stamp and, if ``run_id`` exists, its thread
    and status (``run_thread_id``/``run_status``); None when the agent has no row yet."""
    return await conn.fetchrow(
        f"""select {STAMP_SQL} as stamp, r.thread_id as run_thread_id, r.status as run_status
            from agents a left join agent_runs r on r.tenant_id = a.tenant_id and r.id = $3
            where a.tenant_id = $1 and a.name = $2""",
        tenant_id,
        name,
        run_id,
    )


async def _insert_prompt(conn: asyncpg.Connection, tenant_id: TenantId, agent_id: UUID, spec: PromptSpec) -> UUID:
    await conn.execute(
        "update prompt_versions set active = false where tenant_id = $1 and agent_id = $2 and ab_bucket = $3",
        tenant_id,
        agent_id,
        spec.bucket,
    )
    new_id: UUID = await conn.fetchval(
        """insert into prompt_versions (tenant_id, agent_id, version, text, ab_bucket, weight, active)
           values ($1, $2, (select coalesce(max(version), 0) + 1 from prompt_versions
                            where tenant_id = $1 and agent_id = $2), $3, $4, $5, true)
           returning id""",
        tenant_id,
        agent_id,
        spec.text,
        spec.bucket,
        spec.weight,
    )
    return new_id


async def ensure_agent(
    conn: asyncpg.Connection, tenant_id: TenantId, name: str, defaults: AgentDefaults
) -> AgentConfig:
    """The agent's configuration, created with the defaults on first use (race-safe)."""
    config = await load_agent(conn, tenant_id, name)
    if config is not None and config.prompts:
        return config
    agent_id = await conn.fetchval(
        """insert into agents (tenant_id, name, role, tools, guardrails) values ($1, $2, $3, $4, $5)
           on conflict (tenant_id, name) do update set name = excluded.name returning id""",
        tenant_id,
        name,
        defaults.role,
        list(defaults.tools),
        defaults.guardrails,
    )
    await conn.execute("select pg_advisory_xact_lock(hashtextextended($1::text, 7))", str(agent_id))
    if not await _active_prompts(conn, tenant_id, agent_id):
        pv = await _insert_prompt(conn, tenant_id, agent_id, PromptSpec("A", defaults.prompt, 1.0))
        await conn.execute(
            "update agents set prompt_version_id = $3 where tenant_id = $1 and id = $2", tenant_id, agent_id, pv
        )
    config = await load_agent(conn, tenant_id, name)
    assert config is not None
    return config


async def apply_update(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    name: str,
    update: AgentUpdate,
    defaults: AgentDefaults,
    catalog: frozenset[str],
) -> AgentConfig:
    """Apply one agent's part of POST /agents/triad; prompt changes become new versions."""
    if update.tools is not None:
        unknown = sorted(set(update.tools) - catalog)
        if unknown:
            raise ValidationFailed(
                f"{name} cannot use these tools",
                details=[{"loc": ["body", "agents", name, "tools"], "msg": f"not available to {name}: {unknown}"}],
            )
    current = await ensure_agent(conn, tenant_id, name, defaults)
    await conn.execute(
        """update agents set tools = coalesce($3, tools), guardrails = coalesce($4, guardrails),
                  settings = coalesce($5, settings), role = coalesce($6, role)
           where tenant_id = $1 and id = $2""",
        tenant_id,
        current.id,
        list(update.tools) if update.tools is not None else None,
        update.guardrails,
        update.settings,
        update.role,
    )
    if update.prompts is not None:
        buckets = [p.bucket for p in update.prompts]
        if len(buckets) != len(set(buckets)) or not buckets:
            raise ValidationFailed("prompt buckets must be unique and at least one", details={"buckets": buckets})
        if sum(p.weight for p in update.prompts) <= 0:
            raise ValidationFailed("at least one prompt bucket needs a positive weight")
        active = {p.ab_bucket: p for p in current.prompts}
        for spec in update.prompts:
            old = active.get(spec.bucket)
            if old is None or old.text != spec.text or abs(old.weight - spec.weight) > 1e-9:
                await _insert_prompt(conn, tenant_id, current.id, spec)
        await conn.execute(
            """update prompt_versions set active = false
               where tenant_id = $1 and agent_id = $2 and active and not (ab_bucket = any($3::text[]))""",
            tenant_id,
            current.id,
            buckets,
        )
        first = await _active_prompts(conn, tenant_id, current.id)
        await conn.execute(
            "update agents set prompt_version_id = $3 where tenant_id = $1 and id = $2",
            tenant_id,
            current.id,
            first[0].id,
        )
    config = await load_agent(conn, tenant_id, name)
    assert config is not None
    return config


def pick_prompt(prompts: tuple[PromptVersion, ...], thread_id: UUID) -> PromptVersion:
    """A/B assignment: stable per thread (hash of its id) and proportional to the weights."""
    live = [p for p in prompts if p.weight > 0] or list(prompts)
    total = sum(p.weight for p in live) or float(len(live))
    u = int(hashlib.sha256(thread_id.bytes).hexdigest()[:13], 16) / 16**13
    acc = 0.0
    for p in live:
        acc += (p.weight if total else 1.0) / total
        if u < acc:
            return p
    return live[-1]


def config_dict(config: AgentConfig) -> dict[str, Any]:
    return {
        "id": config.id,
        "name": config.name,
        "role": config.role,
        "tools": list(config.tools),
        "guardrails": config.guardrails,
        "settings": config.settings,
        "prompts": [
            {"id": p.id, "version": p.version, "bucket": p.ab_bucket, "weight": p.weight, "text": p.text}
            for p in config.prompts
        ],
    }


async def list_prompt_versions(conn: asyncpg.Connection, tenant_id: TenantId, name: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """select p.id, p.version, p.text, p.ab_bucket as bucket, p.weight, p.active, p.created_at
           from prompt_versions p join agents a on a.tenant_id = p.tenant_id and a.id = p.agent_id
           where p.tenant_id = $1 and a.name = $2 order by p.version desc""",
        tenant_id,
        name,
    )
    return [dict(r) | {"weight": float(r["weight"])} for r in rows]


__all__ = [
    "AgentConfig",
    "AgentDefaults",
    "AgentUpdate",
    "PromptSpec",
    "PromptVersion",
    "apply_update",
    "config_dict",
    "config_stamp_and_run",
    "ensure_agent",
    "list_prompt_versions",
    "load_agent",
    "pick_prompt",
]
