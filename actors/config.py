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


async def _active_prompts(conn: asyncpg.Connection, tenant_id: TenantId, agent_id: UUID) -> tuple[PromptVersion, ...]:
    rows = await conn.fetch(
        """select id, version, text, ab_bucket, weight from prompt_versions
           where tenant_id = $1 and agent_id = $2 and active order by ab_bucket, version desc""",
        tenant_id,
        agent_id,
    )
    seen: dict[str, PromptVersion] = {}
    for r in rows:
        seen.setdefault(
            r["ab_bucket"], PromptVersion(r["id"], r["version"], r["text"], r["ab_bucket"], float(r["weight"]))
        )
    return tuple(seen.values())


async def load_agent(conn: asyncpg.Connection, tenant_id: TenantId, name: str) -> AgentConfig | None:
    row = await conn.fetchrow(
        "select id, name, role, tools, guardrails, settings from agents where tenant_id = $1 and name = $2",
        tenant_id,
        name,
    )
    if row is None:
        return None
    return AgentConfig(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        tools=tuple(row["tools"]),
        guardrails=dict(row["guardrails"]),
        settings=dict(row["settings"]),
        prompts=await _active_prompts(conn, tenant_id, row["id"]),
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
    "ensure_agent",
    "list_prompt_versions",
    "load_agent",
    "pick_prompt",
]
