"""Cross-process messages of the agent runtime: one frozen pydantic model per call.

They travel between the gateway, the dispatcher and the agent actors (Ray pickles them),
so they carry ids and plain data — never connections, records or clients. They evolve
by adding optional fields.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

AgentName = Literal["luddy", "lucy", "clio"]
AGENT_NAMES: tuple[AgentName, ...] = ("luddy", "lucy", "clio")

# SSE event names of a run, in the order a client usually sees them.
RunEventName = Literal["run.started", "delta", "tool.call", "tool.result", "sources", "run.completed", "error"]
TERMINAL_EVENTS = frozenset({"run.completed", "error"})


class _Msg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunRequest(_Msg):
    """Start (or, with the same ``run_id``, rejoin) one run of one agent."""

    run_id: UUID
    tenant_id: UUID
    agent: AgentName
    input: str
    context: dict[str, Any] = Field(default_factory=dict)
    thread_id: UUID | None = None
    principal: str | None = None


class RunTicket(_Msg):
    run_id: UUID
    thread_id: UUID
    status: str
    existing: bool = False
    # A new run's first event (``run.started``), already in its buffer: the gateway sends it
    # at once and reads the buffer after ``started_id`` (one Redis read less before the
    # first byte).
    started_id: str | None = None
    started: dict[str, Any] | None = None


class ToolInvokeRequest(_Msg):
    """A direct tool call (POST /agents/tools/{tool}/invoke) acting as ``agent``."""

    tenant_id: UUID
    agent: AgentName
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    thread_id: UUID | None = None
    role: str = "member"


class AgentMessage(_Msg):
    """Actor-to-actor ask/tell, or an event delivered to an agent by the dispatcher."""

    tenant_id: UUID
    from_agent: str
    to_agent: AgentName
    kind: Literal["ask", "tell", "event"]
    body: dict[str, Any] = Field(default_factory=dict)
    event_id: UUID | None = None


class AgentReply(_Msg):
    message_id: UUID
    status: str
    reply: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "AGENT_NAMES",
    "TERMINAL_EVENTS",
    "AgentMessage",
    "AgentName",
    "AgentReply",
    "RunEventName",
    "RunRequest",
    "RunTicket",
    "ToolInvokeRequest",
]
