"""A local, simulated Asaas v3 server (``tridium-asaas-sandbox``) for tests and local runs.

It speaks the same paths, JSON shapes, status codes and headers as Asaas for the subset
Tridium uses, keeps its state in memory (optionally in a JSON file), and delivers webhooks
with Asaas's semantics (only-200 success, penalty schedule, pause after 15 failures,
at-least-once duplicates, sequential/non-sequential queues). Everything it does is
simulated and says so: the ``X-Sandbox``/``Server`` headers, its logs and its pages.

Tridium-only extensions live under ``/v3/sandbox/clock``, ``/v3/sandbox/faults`` and
``/v3/sandbox/paymentDunnings`` (dunning progress, see ``dunnings``).
"""

from .admin import SandboxAdmin
from .app import Sandbox, create_app
from .config import DEFAULT_ACCESS_TOKEN, SANDBOX_NAME, SandboxConfig
from .server import RunningSandbox, background_server, running_sandbox, serve

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "SANDBOX_NAME",
    "RunningSandbox",
    "Sandbox",
    "SandboxAdmin",
    "SandboxConfig",
    "background_server",
    "create_app",
    "running_sandbox",
    "serve",
]
