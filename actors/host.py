"""``AgentHost``: one agent of one tenant, as a plain class (the Ray actor wraps it).

It owns the agent's runs: each run is an asyncio task that builds an agno ``Agent`` from
the tenant's configuration (active prompt version for the thread's A/B bucket, tool
allowlist, guardrails), streams its events into the run's Redis buffer and records the
run and the conversation turn in Postgres. Turns of one thread are serialised (FIFO lock):
a second message while a run is in progress waits its turn instead of interleaving.

A run costs two durable commits: one when it starts (the run record and, when the
thread's turn is free, the user's message; on a new thread the thread, the record and the
message are one statement) and one when it ends (the record's outcome and
the answer). The configuration is kept between runs and re-read only when its stamp
changes (``actors.config.STAMP_SQL``, fetched with the run lookup). Events are written
behind the run, in order (``actors.events.RunEventWriter``), and flushed before the run
is reported done.

Everything the host needs is injected (``HostDeps``), so tests run it without Ray.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID, uuid4

import asyncpg
import redis.asyncio as redis

from core.errors import DependencyUnavailable, NotFound, TridiumError
from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx

from . import cost as ai_cost
from . import memory
from .agents import AGENT_CLASSES
from .base import BaseAgent
from .config import AgentConfig, PromptVersion, config_stamp_and_run, ensure_agent, pick_prompt
from .events import RunEventBuffer, RunEventWriter
from .guardrails import GroundingFilter, leaks_instructions
from .planning import MODEL_NAME, REFUSE_INTERNALS, Turn
from .schemas import AgentMessage, AgentReply, RunRequest, RunTicket, ToolInvokeRequest
from .search import SearchFn
from .tools import REGISTRY, PaymentsPort, ToolContext, brl, catalog, execute

log = logging.getLogger(__name__)
os.environ.setdefault("AGNO_TELEMETRY", "false")

# Conversation statuses (db 0007) in which a person owns the thread: Luddy stays silent.
HUMAN_OWNED = frozenset({"pending_human", "human"})

FOLLOWUP_TEXT = (
    "Obrigado pela confiança! Sua compra foi confirmada. Se precisar de algo para começar, é só responder por aqui."
)


class AgentRuntime(Protocol):
    """How the gateway, the dispatcher and agents reach an agent (in-process or Ray)."""

    async def call(self, tenant_id: UUID, agent: str, method: str, *args: Any) -> Any: ...

    async def close(self) -> None: ...


@dataclass
class HostDeps:
    settings: Settings
    pool: asyncpg.Pool
    redis: redis.Redis
    search: SearchFn
    payments: PaymentsPort | None = None
    peers: AgentRuntime | None = None
    ads: Any = None  # tools.ads.accounts.AdsDeps: SecretBox + ad connectors of this process
    openai_client: Any = None  # openai.AsyncOpenAI, one per process, built lazily


@dataclass
class _TurnStart:
    """What a turn starts from, read (and the user's message written) holding the turn lock."""

    thread_status: str | None
    past: list[tuple[str, str]]


@dataclass
class _Run:
    request: RunRequest
    thread_id: UUID
    config: AgentConfig
    prompt: PromptVersion
    model_name: str
    writer: RunEventWriter | None = None
    turn: _TurnStart | None = None  # set when start_run took the thread's turn at once
    task: asyncio.Task[None] | None = None
    detach_timer: asyncio.TimerHandle | None = None
    watchers: int = 1  # SSE streams attached (the one that started it counts)
    status: str = "running"
    done: asyncio.Event = field(default_factory=asyncio.Event)


class AgentHost:
    def __init__(self, deps: HostDeps, tenant_id: TenantId, agent: str):
        if agent not in AGENT_CLASSES:
            raise NotFound("unknown agent", details={"agent": agent})
        self.deps = deps
        self.tenant_id = tenant_id
        self.agent = agent
        self.impl: BaseAgent = AGENT_CLASSES[agent]()
        self.events = RunEventBuffer(deps.redis, deps.settings.agent_run_buffer_ttl_s)
        self._runs: dict[UUID, _Run] = {}
        self._locks: dict[UUID, asyncio.Lock] = {}
        self._activated = False
        self._activation_lock = asyncio.Lock()
        self._config: AgentConfig | None = None  # kept between runs, checked by stamp
        self.activated_at = time.time()
        self.last_activity = time.monotonic()
        self.runs_started = 0
        self.interrupted_on_activation = 0

    # Lifecycle --------------------------------------------------------------------------

    async def activate(self) -> None:
        """Load (or create) the configuration; runs a dead incarnation left are interrupted."""
        async with self._activation_lock:
            if self._activated:
                return
            async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
                config = await ensure_agent(conn, self.tenant_id, self.agent, self.impl.defaults())
                self.interrupted_on_activation = await memory.interrupt_stale_runs(conn, self.tenant_id, config.id)
            self._config = config
            self._activated = True

    def busy(self) -> bool:
        return any(not r.done.is_set() for r in self._runs.values())

    def idle_for(self) -> float:
        return 0.0 if self.busy() else time.monotonic() - self.last_activity

    async def info(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "tenant_id": str(self.tenant_id),
            "pid": os.getpid(),
            "activated_at": self.activated_at,
            "runs_started": self.runs_started,
            "running": sum(1 for r in self._runs.values() if not r.done.is_set()),
            "idle_s": round(self.idle_for(), 3),
            "interrupted_on_activation": self.interrupted_on_activation,
        }

    async def shutdown(self) -> None:
        for run in list(self._runs.values()):
            if run.task is not None and not run.task.done():
                run.task.cancel()
        await asyncio.gather(*(r.task for r in self._runs.values() if r.task), return_exceptions=True)

    # Runs -----------------------------------------------------------------------------------

    def _model_name(self, config: AgentConfig) -> str:
        s = self.deps.settings
        choice = config.settings.get("model", "auto")
        if choice == "auto":
            choice = s.agent_model_default
        configured = bool(s.llm_base_url and s.llm_model and s.llm_api_key)
        if choice == "openai" or (choice == "auto" and configured):
            return f"openai-compatible:{s.llm_model}"
        return MODEL_NAME

    async def start_run(self, req: RunRequest) -> RunTicket:
        """Register the run and start it; the same ``run_id`` again returns the existing run.

        When the thread's turn is free (always for a new thread) the run takes it here, and
        the transaction that records the run also reads the history and writes the user's
        message. A run queued behind another one of its thread does that when its turn comes.
        """
        self.last_activity = time.monotonic()
        await self.activate()
        known = self._runs.get(req.run_id)
        if known is not None:
            return RunTicket(run_id=req.run_id, thread_id=known.thread_id, status=known.status, existing=True)
        lock: asyncio.Lock | None = None
        key = req.thread_id
        queued = owned = False
        if key is not None:
            lock = self._locks.setdefault(key, asyncio.Lock())
            queued = lock.locked()
            if not queued:
                await lock.acquire()  # free and nobody waiting: taken without yielding
                owned = True
        run: _Run | None = None
        try:
            async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
                found, config = await self._config_or_run(conn, req.run_id)
                if found is not None:
                    return RunTicket(run_id=req.run_id, thread_id=found[0], status=found[1], existing=True)
                turn = None
                if req.thread_id is None:
                    # A new thread: no one can name it before this commits, and it has no
                    # history; thread, run and message go in one statement.
                    key = uuid4()
                    lock = self._locks.setdefault(key, asyncio.Lock())
                    await lock.acquire()
                    owned = True
                    prompt = pick_prompt(config.prompts, key)
                    model_name = await ai_cost.gate(conn, self.tenant_id, self._model_name(config))
                    thread = await memory.start_on_new_thread(
                        conn,
                        self.tenant_id,
                        thread_id=key,
                        agent=self.agent,
                        run_id=req.run_id,
                        agent_id=config.id,
                        input_=req.input,
                        model=model_name,
                        prompt_version_id=prompt.id,
                        ab_bucket=prompt.ab_bucket,
                        message=self._user_message(req),
                    )
                    turn = _TurnStart(thread["status"], [])
                else:
                    thread = await memory.ensure_thread(conn, self.tenant_id, req.thread_id, self.agent, req.run_id)
                    prompt = pick_prompt(config.prompts, thread["id"])
                    model_name = await ai_cost.gate(conn, self.tenant_id, self._model_name(config))
                    await memory.create_run(
                        conn,
                        self.tenant_id,
                        run_id=req.run_id,
                        agent_id=config.id,
                        thread_id=thread["id"],
                        input_=req.input,
                        model=model_name,
                        prompt_version_id=prompt.id,
                        ab_bucket=prompt.ab_bucket,
                    )
                    if owned:
                        turn = await self._begin_turn(conn, req, thread["id"], thread["status"])
            writer = self.events.writer(self.tenant_id, req.run_id)
            run = _Run(req, thread["id"], config, prompt, model_name, writer, turn)
        finally:
            if run is None and owned and lock is not None and key is not None:
                lock.release()
                self._forget_lock(key, lock)
        assert run is not None and run.writer is not None and lock is not None
        started = {
            "run_id": str(req.run_id),
            "thread_id": str(run.thread_id),
            "agent": self.agent,
            "model": model_name,
            "prompt_version_id": str(prompt.id),
            "prompt_version": prompt.version,
            "ab_bucket": prompt.ab_bucket,
            "queued": queued,
        }
        run.writer.emit("run.started", started)
        self._runs[req.run_id] = run
        self.runs_started += 1
        try:
            # run.started is in the buffer when the caller hears of the run (and a broken
            # Redis fails the call); the run starts after, so its first CPU-bound stretch
            # (building the agent) does not delay that.
            await run.writer.flush()
        finally:  # even then: the run fails at its first event and is recorded so
            run.task = asyncio.create_task(self._execute(run, lock), name=f"run-{req.run_id}")
        return RunTicket(
            run_id=req.run_id,
            thread_id=run.thread_id,
            status="running",
            started_id=run.writer.last_id,
            started=started,
        )

    async def _config_or_run(
        self, conn: asyncpg.Connection, run_id: UUID
    ) -> tuple[tuple[UUID, str] | None, AgentConfig]:
        """(thread, status) of ``run_id`` if it exists, and the agent's configuration: the
        kept one unless its stamp changed. One round trip when nothing changed."""
        row = await config_stamp_and_run(conn, self.tenant_id, self.agent, run_id)
        config = self._config
        if row is None:  # no agent row (yet): the long way
            prior = await memory.find_run(conn, self.tenant_id, run_id)
            if prior is not None:
                assert config is not None
                return (prior["thread_id"], prior["status"]), config
            config = None
        elif row["run_status"] is not None:
            assert config is not None
            return (row["run_thread_id"], row["run_status"]), config
        if config is None or row is None or config.stamp != row["stamp"] or not config.prompts:
            config = self._config = await ensure_agent(conn, self.tenant_id, self.agent, self.impl.defaults())
        return None, config

    async def _begin_turn(
        self, conn: asyncpg.Connection, req: RunRequest, thread_id: UUID, status: str | None
    ) -> _TurnStart:
        """The thread's history so far, then the user's message (holding the turn lock).

        An inbox turn's messages are already stored (tools.inbox, claimed by this run id):
        they are the input, not history, and are not written a second time."""
        inbox_turn = bool(req.context.get("inbox_turn"))
        exclude = req.run_id if inbox_turn else None
        past = await memory.history(conn, self.tenant_id, thread_id, self.agent, exclude_turn=exclude)
        message = self._user_message(req)
        if message is None:
            return _TurnStart(status, past)
        sender, meta = message
        await memory.append_message(
            conn, self.tenant_id, thread_id, direction="in", sender=sender, body=req.input, meta=meta
        )
        return _TurnStart(status, past)

    def _user_message(self, req: RunRequest) -> tuple[str, dict[str, Any]] | None:
        """(sender, meta) of the user's message the run writes; None for an inbox turn, whose
        messages are already stored."""
        if req.context.get("inbox_turn"):
            return None
        return req.principal or "customer", {"agent": self.agent, "run_id": str(req.run_id), "context": req.context}

    def _forget_lock(self, thread_id: UUID, lock: asyncio.Lock) -> None:
        if not lock.locked() and self._locks.get(thread_id) is lock:
            self._locks.pop(thread_id, None)

    async def run_alive(self, run_id: UUID) -> bool:
        run = self._runs.get(run_id)
        return run is not None and not run.done.is_set()

    async def wait_run(self, run_id: UUID) -> str:
        run = self._runs.get(run_id)
        if run is None:
            return "unknown"
        await run.done.wait()
        return run.status

    async def cancel_run(self, run_id: UUID) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.task is None or run.task.done():
            return False
        run.task.cancel()
        return True

    async def detach(self, run_id: UUID) -> None:
        """The client went away: cancel the run unless it comes back within the grace period."""
        run = self._runs.get(run_id)
        if run is None or run.done.is_set():
            return
        # Counting, not a flag: a reconnect's attach may arrive before the old stream's detach.
        run.watchers -= 1
        if run.watchers > 0:
            return
        if run.detach_timer is not None:
            run.detach_timer.cancel()
        loop = asyncio.get_running_loop()
        run.detach_timer = loop.call_later(
            self.deps.settings.agent_disconnect_grace_s, lambda: run.task.cancel() if run.task else None
        )

    async def attach(self, run_id: UUID) -> None:
        run = self._runs.get(run_id)
        if run is None:
            return
        run.watchers += 1
        if run.detach_timer is not None:
            run.detach_timer.cancel()
            run.detach_timer = None

    async def _emit(self, run: _Run, event: str, data: dict[str, Any]) -> None:
        """Queue an event of the run (written behind it, in order; see ``_finish``).

        One turn of the loop, not a Redis round trip: enough for the writer to send what is
        pending, and for the loop to take what arrived, while the run goes on.
        """
        assert run.writer is not None
        run.writer.emit(event, data)
        await asyncio.sleep(0)

    async def _execute(self, run: _Run, lock: asyncio.Lock) -> None:
        req = run.request
        state = _RunState(evidence=GroundingFilter())
        held = run.turn is not None  # start_run took the thread's turn for this run
        try:
            try:
                # One turn of the loop first: start_run's reply leaves before the run's first
                # CPU-bound stretch (building the agent), not after it (see runtime.AgentActor).
                await asyncio.sleep(0)
                if not held:  # queued behind another run of the thread: wait for the turn
                    await lock.acquire()
                    held = True
                state.t0 = time.perf_counter()
                await self._run_turn(run, state)
            finally:
                if held:
                    lock.release()
        except asyncio.CancelledError:
            run.status = "cancelled"
            await self._finish(run, state, "cancelled", error="cancelled: the client went away or cancelled the run")
        except Exception as exc:
            log.exception("agent run failed", extra={"run_id": str(req.run_id), "agent": self.agent})
            run.status = "failed"
            code = exc.code if isinstance(exc, TridiumError) else "run_failed"
            await self._finish(run, state, "failed", error=f"{code}: {exc}")
        finally:
            run.done.set()
            self.last_activity = time.monotonic()
            self._forget_lock(run.thread_id, lock)
            asyncio.get_running_loop().call_later(60, self._runs.pop, req.run_id, None)

    async def _run_turn(self, run: _Run, state: _RunState) -> None:
        from .agno_build import build_agent, history_messages

        req = run.request
        turn_start = run.turn
        if turn_start is None:
            async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
                thread = await memory.thread_state(conn, self.tenant_id, run.thread_id)
                status = None if thread is None else thread["status"]
                turn_start = await self._begin_turn(conn, req, run.thread_id, status)
        past = turn_start.past
        if self.agent == "luddy" and turn_start.thread_status in HUMAN_OWNED:
            # A human has the conversation: record the message, do not auto-reply.
            state.handoff = True
            await self._complete(run, state)
            return
        state.evidence.add_evidence(req.input, source=False)
        allowed = frozenset(run.config.tools) & catalog(self.agent)
        instructions = self.impl.instructions(run.prompt.text)
        turn = Turn(self.agent, req.input, dict(req.context), past, [], allowed, dict(run.config.guardrails))
        agent = build_agent(self, run, allowed, instructions, turn, state)
        with ai_cost.agent_span(self.agent, run.model_name, run.thread_id) as span:
            async for ev in agent.arun(history_messages(past, req.input), stream=True, stream_events=True):
                await self._on_agno_event(run, state, ev, instructions)
            ai_cost.record_usage(span, state.tokens_in, state.tokens_out)
        await self._release(run, state, state.evidence.flush(), instructions)
        await self._complete(run, state)

    async def _release(self, run: _Run, state: _RunState, text: str, instructions: str) -> None:
        if not text:
            return
        if leaks_instructions(text, instructions):
            state.violations.append("instructions_leak")
            text = REFUSE_INTERNALS
        state.output.append(text)
        await self._emit(run, "delta", {"text": text})

    async def _on_agno_event(self, run: _Run, state: _RunState, ev: Any, instructions: str) -> None:
        kind = type(ev).__name__
        if kind == "RunContentEvent" and isinstance(ev.content, str) and ev.content:
            await self._release(run, state, state.evidence.feed(ev.content), instructions)
        elif kind == "ToolCallStartedEvent" and ev.tool is not None:
            await self._emit(
                run, "tool.call", {"id": ev.tool.tool_call_id, "name": ev.tool.tool_name, "args": ev.tool.tool_args}
            )
        elif kind == "ToolCallCompletedEvent" and ev.tool is not None:
            raw = ev.tool.result or "{}"
            try:
                result = json.loads(raw)
            except ValueError:
                result = {"summary": raw}
            state.evidence.add_evidence(raw)
            state.tool_calls.append(
                {"id": ev.tool.tool_call_id, "name": ev.tool.tool_name, "args": ev.tool.tool_args, "result": result}
            )
            await self._emit(
                run, "tool.result", {"id": ev.tool.tool_call_id, "name": ev.tool.tool_name, "result": result}
            )
            if isinstance(result, dict) and result.get("sources"):
                fresh = [
                    {k: s.get(k) for k in ("n", "doc_id", "chunk_id", "title", "source", "page", "score")}
                    for s in result["sources"]
                ]
                state.sources.extend(fresh)
                await self._emit(run, "sources", {"sources": fresh, "flagged": result.get("flagged", [])})
        elif kind == "RunCompletedEvent" and ev.metrics is not None:
            state.tokens_in = int(ev.metrics.input_tokens or 0)
            state.tokens_out = int(ev.metrics.output_tokens or 0)
        elif kind == "RunErrorEvent":
            raise DependencyUnavailable(f"model error: {getattr(ev, 'content', '')}")

    async def _complete(self, run: _Run, state: _RunState) -> None:
        run.status = "completed"
        await self._finish(run, state, "completed")

    async def _finish(self, run: _Run, state: _RunState, status: str, error: str | None = None) -> None:
        req = run.request
        output = "".join(state.output)
        latency_ms = int((time.perf_counter() - state.t0) * 1000) if state.t0 else 0
        priced = ai_cost.price_run(self.deps.settings, run.model_name, state.tokens_in, state.tokens_out)
        cost = priced.cost_usd
        answer = None
        if status == "completed" and output:  # the agent's turn, in the thread's memory
            answer = (run.thread_id, self.agent, {"agent": self.agent, "run_id": str(req.run_id)})

        async def record() -> None:
            async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
                await memory.finish_run(
                    conn,
                    self.tenant_id,
                    req.run_id,
                    status=status,
                    output=output,
                    sources=state.sources,
                    tool_calls=state.tool_calls,
                    tokens_in=state.tokens_in,
                    tokens_out=state.tokens_out,
                    cost=cost,
                    latency_ms=latency_ms,
                    error=error,
                    answer=answer,
                )
                await ai_cost.settle(conn, self.tenant_id, req.run_id, priced)
            if status == "completed":
                await self._emit(
                    run,
                    "run.completed",
                    {
                        "run_id": str(req.run_id),
                        "thread_id": str(run.thread_id),
                        "status": status,
                        "output": output,
                        "handoff": state.handoff,
                        "usage": {"tokens_in": state.tokens_in, "tokens_out": state.tokens_out},
                        "cost": cost,
                        "latency_ms": latency_ms,
                        "model": run.model_name,
                        "prompt_version_id": str(run.prompt.id),
                        "prompt_version": run.prompt.version,
                        "ab_bucket": run.prompt.ab_bucket,
                        "guardrails": {"ungrounded_claims": state.evidence.violations, "other": state.violations},
                    },
                )
            else:
                await self._emit(run, "error", {"run_id": str(req.run_id), "code": status, "message": error})
            assert run.writer is not None
            await run.writer.flush()  # every event, the terminal one last, is in Redis before done

        # Recording must survive the cancellation that may have brought us here.
        await asyncio.shield(record())

    async def execute_tool(
        self, run: _Run, state: _RunState, allowed: frozenset[str], name: str, args: dict[str, Any]
    ) -> str:
        """The entrypoint agno calls for every tool call of a run: errors go back to the model."""
        ctx = self._tool_context(run.request.run_id, run.thread_id, "member")
        depth = run.request.context.get("ask_depth")
        if (run.request.principal or "").startswith("agent:") and isinstance(depth, int) and depth > 0:
            ctx.ask_depth = depth  # hops are counted only on runs that other agents started
        with ai_cost.tool_span(name):
            try:
                result = await execute(ctx, name, args, allowed=allowed)
            except TridiumError as exc:
                result = {"error": {"code": exc.code, "message": exc.message}}
        return json.dumps(result, ensure_ascii=False, default=str)

    def _tool_context(self, run_id: UUID | None, thread_id: UUID | None, role: str) -> ToolContext:
        return ToolContext(
            tenant_id=self.tenant_id,
            agent=self.agent,
            pool=self.deps.pool,
            search=self.deps.search,
            payments=self.deps.payments,
            run_id=run_id,
            thread_id=thread_id,
            role=role,
            peers=self.deps.peers,
            ads=self.deps.ads,
        )

    # Direct tool calls and messages ----------------------------------------------------------

    async def invoke_tool(self, req: ToolInvokeRequest) -> dict[str, Any]:
        self.last_activity = time.monotonic()
        if req.tool not in REGISTRY:
            raise NotFound("unknown tool", details={"tool": req.tool})
        await self.activate()
        async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
            config = await ensure_agent(conn, self.tenant_id, self.agent, self.impl.defaults())
        allowed = frozenset(config.tools) & catalog(self.agent)
        ctx = self._tool_context(None, req.thread_id, req.role)
        return await execute(ctx, req.tool, req.args, allowed=allowed, idempotency_key=req.idempotency_key)

    async def handle_message(self, msg: AgentMessage) -> AgentReply:
        """ask: run and answer; tell: run in the background; event: react (deal.won)."""
        self.last_activity = time.monotonic()
        await self.activate()
        async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
            row = await conn.fetchrow(
                """insert into agent_messages (tenant_id, from_agent, to_agent, kind, body, event_id)
                   values ($1, $2, $3, $4, $5, $6) on conflict (tenant_id, to_agent, event_id)
                   where event_id is not null do nothing returning id""",
                self.tenant_id,
                msg.from_agent,
                self.agent,
                msg.kind,
                msg.body,
                msg.event_id,
            )
            if row is None:
                prior = await conn.fetchrow(
                    """select id, status, reply from agent_messages
                       where tenant_id = $1 and to_agent = $2 and event_id = $3""",
                    self.tenant_id,
                    self.agent,
                    msg.event_id,
                )
                assert prior is not None
                if prior["status"] == "done":
                    return AgentReply(message_id=prior["id"], status="done", reply=dict(prior["reply"] or {}))
                message_id: UUID = prior["id"]
            else:
                message_id = row["id"]
        if msg.kind == "event":
            reply = await self._react(msg)
        else:
            question = str(msg.body.get("question") or msg.body.get("text") or "")
            request = RunRequest(
                run_id=uuid4(),
                tenant_id=self.tenant_id,
                agent=self.agent,
                input=question,
                context={"from_agent": msg.from_agent, **dict(msg.body.get("context") or {})},
                principal=f"agent:{msg.from_agent}",
            )
            ticket = await self.start_run(request)
            if msg.kind == "tell":
                reply = {"run_id": str(ticket.run_id), "accepted": True}
            else:
                status = await self.wait_run(ticket.run_id)
                async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
                    done = await memory.get_run(conn, self.tenant_id, ticket.run_id)
                reply = {"run_id": str(ticket.run_id), "status": status, "output": done["output"]}
        async with tenant_tx(self.deps.pool, self.tenant_id) as conn:
            await conn.execute(
                """update agent_messages set status = 'done', reply = $3, processed_at = now()
                   where tenant_id = $1 and id = $2""",
                self.tenant_id,
                message_id,
                reply,
            )
        return AgentReply(message_id=message_id, status="done", reply=reply)

    async def ask(self, to_agent: str, question: str, context: dict[str, Any] | None = None) -> AgentReply:
        """Ask another agent of the same tenant and wait for its answer (through the runtime)."""
        if self.deps.peers is None:
            raise DependencyUnavailable("no agent runtime to reach other agents")
        msg = AgentMessage(
            tenant_id=self.tenant_id,
            from_agent=self.agent,
            to_agent=to_agent,
            kind="ask",
            body={"question": question, "context": context or {}},
        )
        reply: AgentReply = await self.deps.peers.call(self.tenant_id, to_agent, "handle_message", msg)
        return reply

    async def _react(self, msg: AgentMessage) -> dict[str, Any]:
        """React to a business event (see ``actors.dispatcher.ROUTES`` for who gets which).

        The reaction is the platform's choice, not the model's: a fixed tool call, keyed by
        the event id so a redelivered event never sends a second message.
        """
        payload = msg.body.get("payload", {})
        etype = msg.body.get("type")
        key = f"event:{msg.event_id}"
        ctx = self._tool_context(None, None, "member")
        allowed = catalog(self.agent)
        if etype == "deal.won":
            if self.agent == "luddy":
                args: dict[str, Any] = {"lead_id": payload["lead_id"], "text": FOLLOWUP_TEXT, "reason": "deal_won"}
                return await execute(ctx, "send_followup", args, allowed=allowed, idempotency_key=key)
            if self.agent == "lucy":
                return await execute(
                    ctx, "record_conversion", {"deal_id": payload["deal_id"]}, allowed=allowed, idempotency_key=key
                )
            return await execute(
                ctx, "mark_creative_winner", {"deal_id": payload["deal_id"]}, allowed=allowed, idempotency_key=key
            )
        if etype == "payment.overdue" and self.agent == "luddy":
            if not payload.get("lead_id"):
                return {"ignored": etype, "reason": "the payment has no lead"}
            args = {
                "lead_id": payload["lead_id"],
                "text": overdue_text(payload),
                "reason": "payment_overdue",
                **({"thread_id": payload["thread_id"]} if payload.get("thread_id") else {}),
            }
            return await execute(ctx, "send_followup", args, allowed=allowed, idempotency_key=key)
        return {"ignored": etype}


def overdue_text(payload: dict[str, Any]) -> str:
    """Luddy's dunning follow-up, written only from the event's facts (amount, method, due
    date and payment link as Asaas reported them): nothing invented, nothing promised."""
    method = {"pix": "Pix", "boleto": "boleto", "card": "cartão"}.get(str(payload.get("method")), "pagamento")
    amount = payload.get("amount_cents")
    what = f"O pagamento de {brl(int(amount))} ({method})" if amount is not None else f"O pagamento ({method})"
    due = str(payload.get("due_date") or "")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", due):
        what += f" venceu em {due[8:10]}/{due[5:7]}/{due[0:4]}."
    else:
        what += " está vencido."
    link = payload.get("invoice_url")
    pay = f" Você pode pagar por este link: {link}" if link else " Posso ajudar a gerar uma nova forma de pagamento."
    return f"Oi! {what}{pay} Se já pagou, é só desconsiderar esta mensagem."


@dataclass
class _RunState:
    evidence: GroundingFilter
    t0: float = 0.0
    output: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    handoff: bool = False


HostFactory = Callable[[TenantId, str], Awaitable[AgentHost]]


class LocalRuntime:
    """In-process runtime: one ``AgentHost`` per (tenant, agent) in this process.

    Used by plain-uvicorn gateways, integration tests and the benchmark's baseline. Idle
    hosts are dropped on the next call after ``agent_idle_s`` (passivation).
    """

    def __init__(self, deps: HostDeps):
        self._deps = deps
        self._hosts: dict[tuple[UUID, str], AgentHost] = {}
        if deps.peers is None:
            deps.peers = self

    def host(self, tenant_id: UUID, agent: str) -> AgentHost:
        self._passivate_idle()
        key = (tenant_id, agent)
        host = self._hosts.get(key)
        if host is None:  # no await between the check and the insert: race-free on one loop
            host = self._hosts[key] = AgentHost(self._deps, TenantId(tenant_id), agent)
        return host

    def _passivate_idle(self) -> None:
        limit = self._deps.settings.agent_idle_s
        for key, host in list(self._hosts.items()):
            if host.idle_for() > limit:
                del self._hosts[key]

    async def call(self, tenant_id: UUID, agent: str, method: str, *args: Any) -> Any:
        return await getattr(self.host(tenant_id, agent), method)(*args)

    async def close(self) -> None:
        for host in self._hosts.values():
            await host.shutdown()
        self._hosts.clear()

    @property
    def hosts(self) -> dict[tuple[UUID, str], AgentHost]:
        return self._hosts


__all__ = ["FOLLOWUP_TEXT", "AgentHost", "AgentRuntime", "HostDeps", "LocalRuntime", "overdue_text"]
