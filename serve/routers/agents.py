"""Agents: configuration (triad, prompts), runs over SSE with resume, tools, run records.

Routes translate HTTP to calls on the agent runtime and back; the logic lives in
``actors``. Under Ray Serve the runtime is ``actors.runtime.RayRuntime`` (per-tenant
actors); under plain uvicorn (and in integration tests) it is ``actors.LocalRuntime``
(the same classes, in-process). ``TRIDIUM_AGENT_RUNTIME`` forces one.

Streaming: events are read from the run's Redis buffer; each has an id
``{run_id}:{entry}``. Reconnect with ``Last-Event-ID`` (to ``POST /agents/run`` or
``GET /agents/runs/{id}/events``) to resume after that event. A client that goes away
detaches; the run is cancelled unless it reattaches within ``agent_disconnect_grace_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from redis import exceptions as redis_errors
from sse_starlette import EventSourceResponse, ServerSentEvent

from actors import (
    AGENT_NAMES,
    AgentRuntime,
    HostDeps,
    LocalRuntime,
    RunRequest,
    RunTicket,
    ToolInvokeRequest,
)
from actors.agents import AGENT_CLASSES
from actors.config import AgentUpdate, PromptSpec, apply_update, config_dict, list_prompt_versions, load_agent
from actors.events import RunEvent, RunEventBuffer, parse_event_id
from actors.memory import find_run, get_run, list_runs
from actors.schemas import TERMINAL_EVENTS
from actors.tools import REGISTRY, catalog
from core.errors import DependencyUnavailable, Forbidden, NotFound, ValidationFailed
from core.tenancy import TenantContext
from db.pool import tenant_tx

from ..ads.wiring import ads_deps
from ..deps import AdminTenant, State, Tenant
from ..knowledge_runtime import knowledge_of
from ..schemas import ErrorBody
from ..state import AppState

log = logging.getLogger(__name__)
router = APIRouter(prefix="/agents", tags=["agents"])

AgentPath = Annotated[Literal["luddy", "lucy", "clio"], Path(description="luddy | lucy | clio")]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=120)]
_background: set[asyncio.Task[Any]] = set()
RUN_ALIVE_WAIT_S = 10.0  # how long a stream waits to hear whether an unreachable agent still runs
# A blocking read of the run's events that fails (Redis slow past the client's socket timeout,
# or briefly unreachable) is retried from the same position; after this many failures in a
# row the stream ends with a `stream_unavailable` error event the client can resume after.
READ_RETRIES = 5


def _make_runtime(request: Request, state: AppState) -> AgentRuntime:
    mode = state.settings.agent_runtime
    if mode == "auto":
        ray = sys.modules.get("ray")
        mode = "ray" if ray is not None and ray.is_initialized() else "local"
    if mode == "ray":
        from actors.runtime import RayRuntime

        return RayRuntime(state.settings)
    if mode == "local":
        # The gateway's own knowledge runtime: the same hybrid search as /rag/search.
        knowledge = knowledge_of(request, state)
        return LocalRuntime(
            HostDeps(state.settings, state.pool, state.redis, knowledge.search, ads=ads_deps(request, state))
        )
    raise DependencyUnavailable("agent runtime unavailable", details={"agent_runtime": mode})


def runtime_of(request: Request, state: AppState) -> AgentRuntime:
    rt: AgentRuntime | None = getattr(request.app.state, "agent_runtime", None)
    if rt is None:
        rt = request.app.state.agent_runtime = _make_runtime(request, state)
    return rt


def _buffer(state: AppState) -> RunEventBuffer:
    return RunEventBuffer(state.redis, state.settings.agent_run_buffer_ttl_s)


def _require_writer(ctx: TenantContext) -> None:
    if ctx.read_only:
        raise Forbidden("read-only roles (viewer, auditor) cannot run agents or tools", details={"role": ctx.role})


# Configuration ------------------------------------------------------------------------------


class PromptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field("A", min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")
    text: str = Field(min_length=1, max_length=20_000)
    weight: float = Field(1.0, ge=0, le=1000)


class AgentConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(None, max_length=500)
    tools: list[str] | None = Field(None, max_length=50)
    guardrails: dict[str, Any] | None = None
    settings: dict[str, Any] | None = Field(
        None, description='runtime knobs: {"model": "auto|offline|openai", "stream_delay_ms": 0}'
    )
    prompt: str | None = Field(None, min_length=1, max_length=20_000, description="shorthand for one bucket A")
    prompts: list[PromptIn] | None = Field(None, max_length=10, description="A/B buckets with weights")


class TriadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    luddy: AgentConfigIn | None = None
    lucy: AgentConfigIn | None = None
    clio: AgentConfigIn | None = None


def _update(name: str, body: AgentConfigIn) -> AgentUpdate:
    if body.prompt is not None and body.prompts is not None:
        raise ValidationFailed("send prompt or prompts, not both", details=[{"loc": ["body", name]}])
    prompts = None
    if body.prompts is not None:
        prompts = tuple(PromptSpec(p.bucket, p.text, p.weight) for p in body.prompts)
    elif body.prompt is not None:
        prompts = (PromptSpec("A", body.prompt, 1.0),)
    if body.settings is not None and body.settings.get("model", "auto") not in ("auto", "offline", "openai"):
        raise ValidationFailed("settings.model must be auto, offline or openai", details=[{"loc": ["body", name]}])
    return AgentUpdate(
        tools=tuple(body.tools) if body.tools is not None else None,
        guardrails=body.guardrails,
        settings=body.settings,
        role=body.role,
        prompts=prompts,
    )


@router.post("/triad")
async def configure_triad(body: TriadIn, state: State, ctx: AdminTenant) -> dict[str, Any]:
    """Create/update the tenant's three agents. Each prompt change is a new prompt version."""
    out = []
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        for name in AGENT_NAMES:
            part: AgentConfigIn | None = getattr(body, name)
            if part is None:
                continue
            config = await apply_update(
                conn, ctx.tenant_id, name, _update(name, part), AGENT_CLASSES[name].defaults(), catalog(name)
            )
            out.append(config_dict(config))
    return {"agents": out}


@router.get("")
async def list_agents(state: State, ctx: Tenant) -> dict[str, Any]:
    items = []
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        for name in AGENT_NAMES:
            config = await load_agent(conn, ctx.tenant_id, name)
            if config is None:
                d = AGENT_CLASSES[name].defaults()
                items.append({"name": name, "configured": False, "role": d.role, "tools": list(d.tools)})
            else:
                items.append(config_dict(config) | {"configured": True})
    for item in items:
        item["available_tools"] = sorted(catalog(str(item["name"])))
    return {"items": items}


@router.get("/runs")
async def list_agent_runs(
    state: State,
    ctx: Tenant,
    agent: Literal["luddy", "lucy", "clio"] | None = None,
    thread_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await list_runs(conn, ctx.tenant_id, agent=agent, thread_id=thread_id, limit=limit, cursor=cursor)


@router.get("/runs/{run_id}")
async def get_agent_run(run_id: UUID, state: State, ctx: Tenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return await get_run(conn, ctx.tenant_id, run_id)


@router.get("/{agent}/prompts")
async def agent_prompts(agent: AgentPath, state: State, ctx: Tenant) -> dict[str, Any]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return {"items": await list_prompt_versions(conn, ctx.tenant_id, agent)}


@router.get("/{agent}/runtime")
async def agent_runtime(agent: AgentPath, request: Request, state: State, ctx: AdminTenant) -> dict[str, Any]:
    """The agent's live incarnation (activates it): process, activation time, runs."""
    info: dict[str, Any] = await runtime_of(request, state).call(ctx.tenant_id, agent, "info")
    return info


# Runs over SSE --------------------------------------------------------------------------------


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Literal["luddy", "lucy", "clio"]
    input: str = Field(min_length=1, max_length=8000)
    context: dict[str, Any] = Field(default_factory=dict)
    thread_id: UUID | None = Field(
        None,
        description="The conversation. Omitted: a new thread (its id is in run.started). An id this tenant has: "
        "the run continues it, with its memory. Any other uuid: a new web-chat thread with that id, so a front "
        "end may create chat ids locally. Ids are per tenant: another tenant's thread id is a new, unrelated "
        "thread here (nothing of theirs is read, written or revealed).",
    )


def _spawn(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _run_alive(rt: AgentRuntime, tenant_id: UUID, agent: str, run_id: UUID) -> bool:
    """Whether the agent still runs ``run_id``. An agent that cannot be reached (its actor
    died and is restarting) no longer runs it: the stream then ends with run_interrupted
    instead of breaking the client's connection."""
    try:
        # Bounded: the stream sends nothing while it waits (a restart is ridden out below it).
        return bool(await asyncio.wait_for(rt.call(tenant_id, agent, "run_alive", run_id), RUN_ALIVE_WAIT_S))
    except Exception as exc:  # noqa: BLE001 — any failure to reach the agent means the run is lost
        log.warning("agent unreachable while streaming; run interrupted", extra={"error": repr(exc)})
        return False


async def _read_or_none(buffer: RunEventBuffer, tenant_id: UUID, run_id: UUID, after: str) -> list[RunEvent] | None:
    """One blocking read of the run's events; None when Redis did not answer in time or
    could not be reached (nothing is lost: the next read starts from the same entry)."""
    try:
        return await buffer.read(tenant_id, run_id, after, block_ms=1000)
    except (redis_errors.TimeoutError, redis_errors.ConnectionError) as exc:
        log.warning("run event read failed; retrying", extra={"run_id": str(run_id), "error": repr(exc)})
        await asyncio.sleep(0.2)
        return None


def _sse(ev: RunEvent) -> bytes:
    return ServerSentEvent(data=json.dumps(ev.data, ensure_ascii=False), event=ev.event, id=ev.id).encode()


async def _events(
    rt: AgentRuntime,
    buffer: RunEventBuffer,
    tenant_id: UUID,
    agent: str,
    run_id: UUID,
    after: str,
    first: RunEvent | None = None,
) -> AsyncIterator[bytes]:
    """The run's events from the buffer after entry ``after``; ``first`` (the event at
    ``after``, when the caller already has it) goes out before the first read."""
    terminal = False
    try:
        if first is not None:
            yield _sse(first)
        failures = 0
        while True:
            read = await _read_or_none(buffer, tenant_id, run_id, after)
            if read is None:
                failures += 1
                if failures >= READ_RETRIES:
                    gone = {"run_id": str(run_id), "code": "stream_unavailable",
                            "message": "the run's events cannot be read now; resume with Last-Event-ID"}  # fmt: skip
                    yield ServerSentEvent(data=json.dumps(gone), event="error").encode()
                    return
                yield b": keepalive\n\n"
                continue
            failures, events = 0, read
            if not events and not await _run_alive(rt, tenant_id, agent, run_id):
                events = await buffer.read(tenant_id, run_id, after)
                if not events:
                    # The agent lost the run (actor died): close the stream with an error event.
                    await buffer.append(
                        tenant_id,
                        run_id,
                        "error",
                        {
                            "run_id": str(run_id),
                            "code": "run_interrupted",
                            "message": "the agent stopped during the run",
                        },
                    )
                    continue
            # Everything one read returned goes out as one chunk (fewer writes through the proxy).
            chunk = b""
            for ev in events:
                after = ev.id.split(":", 1)[1]
                chunk += _sse(ev)
                if ev.event in TERMINAL_EVENTS:
                    terminal = True
                    break
            # Idle for a read (the model is thinking, a sentence is being held by the grounding
            # filter): a comment line. Writing is how a gone client is noticed behind proxies
            # that never deliver http.disconnect, so a disconnect cancels within ~1 s + grace.

            yield chunk or b": keepalive\n\n"
            if terminal:
                return
    finally:
        if not terminal:
            # Outside the cancelled scope: the client is gone, let the agent decide after the grace.
            _spawn(rt.call(tenant_id, agent, "detach", run_id))


async def _resume(request: Request, state: AppState, ctx: TenantContext, last_event_id: str) -> EventSourceResponse:
    run_id, entry = parse_event_id(last_event_id)
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        run = await find_run(conn, ctx.tenant_id, run_id)
    if run is None:
        raise NotFound("run not found", details={"id": str(run_id)})
    buffer = _buffer(state)
    if not await buffer.exists(ctx.tenant_id, run_id):
        raise NotFound("the run's events are no longer buffered; GET /agents/runs/{id}", details={"id": str(run_id)})
    rt = runtime_of(request, state)
    await rt.call(ctx.tenant_id, run["agent"], "attach", run_id)
    return EventSourceResponse(_events(rt, buffer, ctx.tenant_id, run["agent"], run_id, entry))


@router.post(
    "/run",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "run events (SSE)"},
        402: {"model": ErrorBody, "description": "ai_budget_exceeded: the tenant's monthly AI budget is spent"},
    },
)
async def run_agent(
    body: RunIn,
    request: Request,
    state: State,
    ctx: Tenant,
    last_event_id: LastEventId = None,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> EventSourceResponse:
    """Run an agent and stream its events (run.started, delta, tool.call, tool.result, sources,
    run.completed | error). With ``Last-Event-ID`` it resumes that run instead of starting one;
    with ``Idempotency-Key`` a retry of the same request rejoins the same run. ``thread_id``
    may be a client-chosen uuid: the first run with it creates the thread."""
    _require_writer(ctx)

    if last_event_id:
        return await _resume(request, state, ctx, last_event_id)
    run_id = (
        uuid.uuid5(uuid.NAMESPACE_URL, f"tridium:run:{ctx.tenant_id}:{ctx.principal.user_id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    rt = runtime_of(request, state)
    req = RunRequest(
        run_id=run_id,
        tenant_id=ctx.tenant_id,
        agent=body.agent,
        input=body.input,
        context=body.context,
        thread_id=body.thread_id,
        principal=ctx.principal.user_id,
    )

    ticket: RunTicket = await rt.call(ctx.tenant_id, body.agent, "start_run", req)
    if ticket.existing:  # a retry (same Idempotency-Key) rejoins the run: keep it alive
        await rt.call(ctx.tenant_id, body.agent, "attach", run_id)
    after, first = "0-0", None
    if ticket.started_id is not None and ticket.started is not None:  # no read for run.started
        after, first = ticket.started_id.split(":", 1)[1], RunEvent(ticket.started_id, "run.started", ticket.started)
    return EventSourceResponse(_events(rt, _buffer(state), ctx.tenant_id, body.agent, run_id, after, first))


@router.get("/runs/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    run_id: UUID, request: Request, state: State, ctx: Tenant, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Replay/resume a run's events (EventSource-friendly GET); from the start without Last-Event-ID."""
    _require_writer(ctx)
    return await _resume(request, state, ctx, last_event_id or f"{run_id}:0-0")


# Tools ---------------------------------------------------------------------------------------


class ToolInvokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Literal["luddy", "lucy", "clio"] = Field(description="the agent whose allowlist applies")
    args: dict[str, Any] = Field(default_factory=dict)
    thread_id: UUID | None = None


@router.post("/tools/{tool_name}/invoke")
async def invoke_tool(
    tool_name: Annotated[str, Path(max_length=100)],
    body: ToolInvokeIn,
    request: Request,
    state: State,
    ctx: Tenant,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """Run one tool now with validated arguments. Side-effecting tools need an Idempotency-Key
    (a retry replays the stored result). Unknown tool 404; tool not allowed for the agent 403."""
    if tool_name not in REGISTRY:
        raise NotFound("unknown tool", details={"tool": tool_name})
    needs_key = REGISTRY[tool_name].side_effect and tool_name in catalog(body.agent) and not ctx.read_only
    if needs_key and not (idempotency_key and idempotency_key.strip()):
        raise ValidationFailed(
            f"{tool_name} has side effects: send an Idempotency-Key header",
            details=[{"loc": ["header", "Idempotency-Key"], "msg": "required for this tool"}],
        )
    req = ToolInvokeRequest(
        tenant_id=ctx.tenant_id,
        agent=body.agent,
        tool=tool_name,
        args=body.args,
        idempotency_key=f"http:{ctx.principal.user_id}:{idempotency_key.strip()}" if idempotency_key else None,
        thread_id=body.thread_id,
        role=ctx.role,
    )
    result: dict[str, Any] = await runtime_of(request, state).call(ctx.tenant_id, body.agent, "invoke_tool", req)
    return {"tool": tool_name, "agent": body.agent, "result": result}


__all__ = ["router"]
