"""Clio, Lucy and Luddy: plain agent classes, the in-process host, and (in ``runtime``)
the Ray actors around them. Ray is imported only by ``actors.runtime``."""

from .host import AgentHost, AgentRuntime, HostDeps, LocalRuntime
from .schemas import AGENT_NAMES, AgentMessage, AgentName, AgentReply, RunRequest, RunTicket, ToolInvokeRequest
from .search import SearchFn, SearchResult
from .tools import PaymentsPort

__all__ = [
    "AGENT_NAMES",
    "AgentHost",
    "AgentMessage",
    "AgentName",
    "AgentReply",
    "AgentRuntime",
    "HostDeps",
    "LocalRuntime",
    "PaymentsPort",
    "RunRequest",
    "RunTicket",
    "SearchFn",
    "SearchResult",
    "ToolInvokeRequest",
]
