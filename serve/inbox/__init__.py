"""The inbox on the gateway and on Ray: connectors per process, the agent adapter, and the
``InboxWorker`` Serve deployment (``runtime``)."""

from .agents import RuntimeAgents
from .wiring import build_connectors, inbox_config

__all__ = ["RuntimeAgents", "build_connectors", "inbox_config"]
